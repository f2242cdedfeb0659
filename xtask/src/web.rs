//! `cargo xtask build-web`: the three wasm modules and their JavaScript glue in web/pkg/, the vendored npm files in
//! web/vendor/, Subresource Integrity in web/index.html, and the gzip and brotli variants of every served file that the
//! relay picks by Accept-Encoding.

use std::{
    fs,
    io::Write,
    path::{Component, Path, PathBuf},
    process::Stdio,
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{
    install,
    shell::{cargo, command, kib, root, run, target_dir},
};

/// A wasm module of the web app, built from one workspace crate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Module {
    /// The crate's package name.
    package: &'static str,
    /// The cdylib's file stem under target/.
    artifact: &'static str,
    /// What the app imports: `pkg/<name>.js` and `pkg/<name>_bg.wasm`.
    name: &'static str,
    /// The Cargo profile it is built with, from the root Cargo.toml.
    profile: &'static str,
    /// wasm-opt's optimisation level.
    wasm_opt: &'static str,
}

/// The client core, which every page that enters a room loads.
pub(crate) const CORE: Module = Module {
    package: "sanctum-client",
    artifact: "sanctum_client",
    name: "sanctum",
    profile: "wasm",
    wasm_opt: "-O4",
};

/// The password strength estimator, which only the create screen loads.
pub(crate) const STRENGTH: Module = Module {
    package: "sanctum-strength",
    artifact: "sanctum_strength",
    name: "strength",
    // Optimised for size: its dictionaries and regex engines are most of what the create screen downloads, and an
    // estimate takes milliseconds however it is compiled. wasm-opt's -Oz makes it larger once compressed, so it is -O1.
    profile: "wasm-small",
    wasm_opt: "-O1",
};

/// The confusable skeleton (UTS #39), whose tables are larger than the whole join path's budget: the crypto Worker
/// loads it once the room is joined, and hands its function to the client core.
pub(crate) const LOOKALIKE: Module = Module {
    package: "sanctum-lookalike",
    artifact: "sanctum_lookalike",
    name: "lookalike",
    // Mostly tables, read a few dozen times per membership change: size matters more than speed.
    profile: "wasm-small",
    wasm_opt: "-O1",
};

/// The wasm features the modules may use, as wasm-opt names them: what rustc enables for wasm32-unknown-unknown by
/// default, and SIMD, which `.cargo/config.toml` turns on (docs/operating.md names the browsers this needs).
const WASM_FEATURES: &[&str] = &[
    "--enable-bulk-memory",
    "--enable-multivalue",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-reference-types",
    "--enable-sign-ext",
    "--enable-simd",
];

/// Builds the wasm modules with their bindings into web/pkg/, vendors the front-end libraries, and writes the
/// compressed variants the relay serves.
///
/// Expects `install` to have run: the wasm target, wasm-bindgen-cli and node_modules must be present.
pub(crate) fn build_web() -> Result<()> {
    let web = root().join("web");
    let pkg = web.join("pkg");
    remove_dir_if_present(&pkg)?;
    for module in [CORE, STRENGTH, LOOKALIKE] {
        let wasm = build_module(module, &[], &pkg)?;
        let raw = fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
        println!(
            "build-web: web/pkg/{}_bg.wasm is {} raw, {} gzipped",
            module.name,
            kib(raw.len() as u64),
            kib(gzip_size(&raw)?)
        );
    }
    vendor(&web)?;
    finish(&web)
}

/// What follows every change to the served files: the integrity in `index.html`, then the compressed variants of the
/// files as they now are, then the manifest of them all, and last the manifest's own variants (it lists no variant,
/// so they cannot be in it; `sanctum verify` checks that each decodes to the manifest).
///
/// After vendoring, since the page imports a vendored module; the browser tests run it again, so that a source edited
/// since the last build-web is never served behind an older variant or an older integrity value.
pub(crate) fn finish(web: &Path) -> Result<()> {
    pin_modules(web)?;
    precompress(web, None)?;
    let digest = crate::manifest::write(web, &rustc_version()?)?;
    println!("build-web: web/manifest.json lists every served file; its digest is {digest}");
    precompress(web, Some(crate::manifest::MANIFEST))
}

/// Builds `module` for wasm32 with `features`, generates its bindings into `out_dir` and optimises it with wasm-opt;
/// returns the path of the wasm file the app loads.
///
/// Several modules may share `out_dir`; the caller empties it first, so that no file from an older build lingers.
pub(crate) fn build_module(module: Module, features: &[&str], out_dir: &Path) -> Result<PathBuf> {
    let mut build = cargo();
    build.arg("--config").arg(remap_config()?).args([
        "build",
        "-p",
        module.package,
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        module.profile,
    ]);
    if !features.is_empty() {
        build.arg("--features").arg(features.join(","));
    }
    run(&mut build)?;
    let wasm = target_dir().join(format!(
        "wasm32-unknown-unknown/{}/{}.wasm",
        module.profile, module.artifact
    ));
    if !wasm.is_file() {
        bail!(
            "{} was not produced; {}'s Cargo.toml must keep crate-type cdylib",
            wasm.display(),
            module.package
        );
    }
    let Some(wasm_bindgen) = install::wasm_bindgen_program() else {
        bail!("wasm-bindgen is not installed; run `cargo xtask install`");
    };
    run(command(wasm_bindgen)
        .args([
            "--target",
            "web",
            "--no-typescript",
            // Function names and the toolchain's signature are of no use to the browser, only to a profiler.
            "--remove-name-section",
            "--remove-producers-section",
            "--out-name",
            module.name,
            "--out-dir",
        ])
        .arg(out_dir)
        .arg(&wasm))?;
    let bound = out_dir.join(format!("{}_bg.wasm", module.name));
    wasm_opt(&bound, module.wasm_opt)?;
    Ok(bound)
}

/// The absolute paths a build of the wasm modules would otherwise write into them (in panic locations), each with the
/// fixed name it is written as instead, so that the modules do not depend on where the checkout, the target directory,
/// `CARGO_HOME` or the toolchain live.
///
/// The longest path comes last: rustc applies the last prefix that matches, and a target directory inside the
/// checkout must be named as the target directory whichever checkout it is in.
pub(crate) fn build_paths() -> Result<Vec<(PathBuf, &'static str)>> {
    let mut paths = vec![
        (root().to_path_buf(), "/sanctum"),
        (target_dir().to_path_buf(), "/target"),
        (cargo_home()?, "/cargo"),
        (sysroot()?, "/rust"),
    ];
    paths.sort_by_key(|(path, _)| path.as_os_str().len());
    Ok(paths)
}

/// Where Cargo keeps the registry's and git dependencies' sources.
fn cargo_home() -> Result<PathBuf> {
    if let Some(home) = std::env::var_os("CARGO_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    let home = std::env::var_os("HOME").context("neither CARGO_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cargo"))
}

/// The toolchain's sysroot, as rustc of `rust-toolchain.toml` reports it.
fn sysroot() -> Result<PathBuf> {
    let out = crate::shell::output(command("rustc").args(["--print", "sysroot"]))?;
    Ok(PathBuf::from(out.trim()))
}

/// The compiler `rust-toolchain.toml` selects, as `rustc --version` names it; the manifest records it, since the
/// channel is `stable` rather than one version and another compiler builds other wasm bytes.
pub(crate) fn rustc_version() -> Result<String> {
    Ok(crate::shell::output(command("rustc").arg("--version"))?
        .trim()
        .to_owned())
}

/// A `--config` value that adds `--remap-path-prefix` for every [`build_paths`] to the wasm target's rustflags.
///
/// A `RUSTFLAGS` variable would replace the `+simd128` of `.cargo/config.toml` for this target; Cargo joins a
/// `--config` array to the file's array instead, so both apply.
fn remap_config() -> Result<String> {
    let flags: Vec<String> = build_paths()?
        .into_iter()
        .map(|(from, to)| {
            let flag = format!("--remap-path-prefix={}={to}", from.display());
            serde_json::Value::from(flag).to_string()
        })
        .collect();
    Ok(format!("target.wasm32-unknown-unknown.rustflags=[{}]", flags.join(",")))
}

/// The build paths, of [`build_paths`] and `extra`, that occur in any wasm module under `pkg`, as `file: path` lines.
pub(crate) fn build_paths_left(pkg: &Path, extra: &[PathBuf]) -> Result<Vec<String>> {
    let mut paths: Vec<PathBuf> = build_paths()?.into_iter().map(|(path, _)| path).collect();
    paths.extend_from_slice(extra);
    let mut found = Vec::new();
    let mut entries: Vec<_> = fs::read_dir(pkg)
        .with_context(|| format!("reading {}", pkg.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let file = entry.path();
        if file.extension().is_none_or(|e| e != "wasm") {
            continue;
        }
        let bytes = fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        for path in &paths {
            let needle = path.as_os_str().as_encoded_bytes();
            if !needle.is_empty() && bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(format!("{}: {}", file.display(), path.display()));
            }
        }
    }
    Ok(found)
}

/// Optimises a wasm file in place with wasm-opt from the npm `binaryen` package (Debian's binaryen is too old for the
/// features current Rust emits, and writes broken modules).
fn wasm_opt(wasm: &Path, level: &str) -> Result<()> {
    let program = root().join("node_modules/binaryen/bin/wasm-opt");
    if !program.is_file() {
        bail!(
            "{} is missing; `cargo xtask install` runs npm ci, which installs binaryen",
            program.display()
        );
    }
    run(command("node")
        .arg(&program)
        .args(WASM_FEATURES)
        .args([level, "--strip-debug", "--strip-producers"])
        .arg(wasm)
        .arg("-o")
        .arg(wasm))
}

/// Writes `<file>.gz` and `<file>.br` beside every file the relay serves from web/, by `xtask/precompress.mjs`
/// (Node's zlib: gzip at level 9, brotli at quality 11), after removing every older variant.
///
/// `config.json` is left out: operators edit it in place, and a stale compressed copy would be served instead.
/// With `only`, it compresses that one file and removes no variant.
fn precompress(web: &Path, only: Option<&str>) -> Result<()> {
    let mut node = command("node");
    node.arg("xtask/precompress.mjs").arg(web);
    if let Some(file) = only {
        node.args(["--only", file]);
    }
    print!("{}", crate::shell::output(&mut node)?);
    Ok(())
}

/// Writes the integrity of the page's module script, stylesheet and every module it imports statically into
/// `index.html`, by `xtask/integrity.mjs` (es-module-lexer finds the imports).
fn pin_modules(web: &Path) -> Result<()> {
    let out = crate::shell::output(command("node").arg("xtask/integrity.mjs").arg(web))?;
    print!("{out}");
    Ok(())
}

/// The size of `bytes` after `gzip -9`, which is what a static host serving compressed files sends.
fn gzip_size(bytes: &[u8]) -> Result<u64> {
    let mut child = command("gzip")
        .args(["-9", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("could not start gzip")?;
    let mut stdin = child.stdin.take().context("gzip stdin")?;
    // Write from another thread so that a full stdout pipe cannot stall the write.
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().context("waiting for gzip")?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("gzip writer thread panicked"))?
        .context("writing to gzip")?;
    if !out.status.success() {
        bail!("gzip failed ({})", out.status);
    }
    Ok(out.stdout.len() as u64)
}

/// Copies each file named in web/vendor.json from node_modules/ into web/vendor/.
fn vendor(web: &Path) -> Result<()> {
    let manifest = web.join("vendor.json");
    if !manifest.is_file() {
        println!("build-web: no web/vendor.json yet, nothing to vendor");
        return Ok(());
    }
    let text = fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let entries = vendor_entries(&text).with_context(|| format!("in {}", manifest.display()))?;
    let vendor = web.join("vendor");
    remove_dir_if_present(&vendor)?;
    let node_modules = root().join("node_modules");
    for (dest, source) in &entries {
        let from = node_modules.join(source);
        if !from.is_file() {
            bail!(
                "web/vendor.json names node_modules/{source}, which does not exist; \
                 is the package in package.json and package-lock.json? (`cargo xtask install` runs npm ci)"
            );
        }
        let to = vendor.join(dest);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        fs::copy(&from, &to).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    println!("build-web: copied {} vendored file(s) into web/vendor/", entries.len());
    Ok(())
}

/// Parses web/vendor.json: an object mapping a destination under web/vendor/ to a path under node_modules/.
fn vendor_entries(text: &str) -> Result<Vec<(String, String)>> {
    let Value::Object(map) = serde_json::from_str(text)? else {
        bail!("expected a JSON object mapping file names to node_modules paths");
    };
    map.into_iter()
        .map(|(dest, source)| {
            let Value::String(source) = source else {
                bail!("the value for {dest:?} must be a string path under node_modules/");
            };
            // Both sides must stay inside their folders, whatever the manifest says.
            for path in [&dest, &source] {
                if !is_plain_relative(path) {
                    bail!("{path:?} must be a relative path without `..`");
                }
            }
            Ok((dest, source))
        })
        .collect()
}

fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|part| matches!(part, Component::Normal(_)))
}

pub(crate) fn remove_dir_if_present(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(error).with_context(|| format!("removing {}", dir.display()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_manifest_maps_destinations_to_sources() {
        let entries = vendor_entries(r#"{"purify.es.mjs": "dompurify/dist/purify.es.mjs", "qr/qr.js": "qr/index.js"}"#)
            .expect("valid manifest");
        assert_eq!(
            entries,
            [
                ("purify.es.mjs".to_owned(), "dompurify/dist/purify.es.mjs".to_owned()),
                ("qr/qr.js".to_owned(), "qr/index.js".to_owned())
            ]
        );
    }

    #[test]
    fn vendor_manifest_refuses_paths_that_escape() {
        for bad in [
            r#"{"../evil.js": "dompurify/dist/purify.es.mjs"}"#,
            r#"{"ok.js": "/etc/passwd"}"#,
            r#"{"ok.js": "a/../../b"}"#,
            r#"{"ok.js": 3}"#,
            r#"["purify.es.mjs"]"#,
            "not json",
        ] {
            assert!(vendor_entries(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn build_paths_left_in_a_wasm_module_are_found() {
        let dir = std::env::temp_dir().join(format!("sanctum-build-paths-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let home = dir.join("home/.cargo");
        let panic = format!("{}/registry/src/index.crates.io-0/a-1.0.0/src/lib.rs", home.display());
        fs::write(dir.join("a_bg.wasm"), [b"\0asm".as_slice(), panic.as_bytes()].concat()).unwrap();
        // Only the wasm modules are searched; the JavaScript glue names no build path.
        fs::write(dir.join("a.js"), panic.as_bytes()).unwrap();
        fs::write(
            dir.join("b_bg.wasm"),
            b"\0asm/cargo/registry/src/index.crates.io-0/a-1.0.0/src/lib.rs",
        )
        .unwrap();
        let left = build_paths_left(&dir, std::slice::from_ref(&home)).unwrap();
        assert_eq!(
            left,
            [format!("{}: {}", dir.join("a_bg.wasm").display(), home.display())]
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn gzip_shrinks_repetitive_input() {
        let size = gzip_size(&[b'a'; 100_000]).expect("gzip runs");
        assert!(size > 0 && size < 1_000, "{size}");
    }
}
