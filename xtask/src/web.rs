//! `cargo xtask build-web`: the wasm client and its JavaScript glue in web/pkg/, and the vendored npm files in web/vendor/.

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

/// Builds the client for wasm32, generates its bindings, and vendors the front-end libraries.
///
/// Expects `install` to have run: the wasm target, wasm-bindgen-cli and node_modules must be present.
pub(crate) fn build_web() -> Result<()> {
    let web = root().join("web");
    let module = build_bindings(&web.join("pkg"))?;
    let raw = fs::read(&module).with_context(|| format!("reading {}", module.display()))?;
    let gzipped = gzip_size(&raw)?;
    println!(
        "build-web: web/pkg/sanctum_bg.wasm is {} raw, {} gzipped",
        kib(raw.len() as u64),
        kib(gzipped)
    );
    vendor(&web)?;
    let digest = crate::manifest::write(&web)?;
    println!("build-web: web/manifest.json lists every served file; its digest is {digest}");
    Ok(())
}

/// Builds the client for wasm32 in release and generates its bindings into `out_dir`, as the web app imports them
/// (`sanctum.js` and `sanctum_bg.wasm`); returns the path of the generated wasm module.
///
/// `out_dir` is emptied first, so that no file from an older build lingers.
pub(crate) fn build_bindings(out_dir: &Path) -> Result<PathBuf> {
    run(cargo().args([
        "build",
        "-p",
        "sanctum-client",
        "--target",
        "wasm32-unknown-unknown",
        "--release",
    ]))?;
    let wasm = target_dir().join("wasm32-unknown-unknown/release/sanctum_client.wasm");
    if !wasm.is_file() {
        bail!(
            "{} was not produced; client-wasm/Cargo.toml must keep crate-type cdylib",
            wasm.display()
        );
    }
    let Some(wasm_bindgen) = install::wasm_bindgen_program() else {
        bail!("wasm-bindgen is not installed; run `cargo xtask install`");
    };
    remove_dir_if_present(out_dir)?;
    // wasm-opt is left out on purpose: Debian's binaryen rejects the bulk-memory and other features current Rust emits.
    run(command(wasm_bindgen)
        .args([
            "--target",
            "web",
            "--no-typescript",
            "--out-name",
            "sanctum",
            "--out-dir",
        ])
        .arg(out_dir)
        .arg(&wasm))?;
    Ok(out_dir.join("sanctum_bg.wasm"))
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

fn remove_dir_if_present(dir: &Path) -> Result<()> {
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
    fn gzip_shrinks_repetitive_input() {
        let size = gzip_size(&[b'a'; 100_000]).expect("gzip runs");
        assert!(size > 0 && size < 1_000, "{size}");
    }
}
