//! `cargo xtask test --only reproducible`: a second, clean `build-web` from a copy of the checkout in another
//! directory, with its own target directory, gives the same `web/manifest.json`, so every served file is the same.
//!
//! `build-web` remaps the checkout, the target directory, `CARGO_HOME` and the toolchain's sysroot to fixed names
//! (`--remap-path-prefix`), and the lockfiles fix every dependency, so the wasm modules depend on none of those paths:
//! this step also fails when either build's wasm still holds one of them. Builds on other machines match with the same
//! compiler, which the manifest records (`docs/threat-model.md`).

use std::fs;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::manifest::MANIFEST;
use crate::shell::{command, human, output, root, run};

/// Builds the web app again from a copy of the tracked files and compares its manifest with the checkout's.
pub(crate) fn check() -> Result<()> {
    let first = root().join("web").join(MANIFEST);
    if !first.is_file() {
        bail!("{} is missing: run the build-web step first", first.display());
    }
    let scratch = std::env::temp_dir().join(format!("sanctum-reproducible-{}", std::process::id()));
    if scratch.exists() {
        fs::remove_dir_all(&scratch).with_context(|| format!("removing {}", scratch.display()))?;
    }
    let copy = scratch.join("another-checkout");
    let target = scratch.join("target");
    let result = build_copy(&copy, &target)
        .and_then(|()| compare(&first, &copy.join("web").join(MANIFEST)))
        .and_then(|()| no_build_paths(&copy, &target));
    let _ = fs::remove_dir_all(&scratch);
    result
}

fn build_copy(copy: &Path, target: &Path) -> Result<()> {
    let tracked = output(command("git").args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"]))?;
    for file in tracked.split('\0').filter(|f| !f.is_empty()) {
        let from = root().join(file);
        // The tracked and the new files as they are in the work tree; a deleted one is absent from the copy.
        if !from.is_file() {
            continue;
        }
        let to = copy.join(file);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::copy(&from, &to).with_context(|| format!("copying {file}"))?;
        // The same modification times, so that the copy's `install` finds its node_modules as fresh as the lockfile.
        let modified = fs::metadata(&from)?.modified()?;
        fs::File::options().write(true).open(&to)?.set_modified(modified)?;
    }
    // The vendored files come from the npm lockfile's packages, which `install` put in node_modules. A copy, never a
    // link: an `npm ci` in the copy empties node_modules before filling it, and would empty the checkout's through a
    // link.
    run(command("cp")
        .arg("-a")
        .arg(root().join("node_modules"))
        .arg(copy.join("node_modules")))?;
    let started = Instant::now();
    let mut build = command(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    build
        .current_dir(copy)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("CARGO_MANIFEST_DIR")
        .args(["run", "-q", "--locked", "-p", "xtask", "--", "build-web"]);
    run(&mut build)?;
    println!(
        "reproducible: the second build in {} took {}",
        copy.display(),
        human(started.elapsed())
    );
    Ok(())
}

/// Fails when a wasm module of either build names a directory it was built in: this checkout, its target directory,
/// `CARGO_HOME` or the toolchain, or the copy and its target directory.
fn no_build_paths(copy: &Path, copy_target: &Path) -> Result<()> {
    let extra = [copy.to_path_buf(), copy_target.to_path_buf()];
    let mut left = crate::web::build_paths_left(&root().join("web/pkg"), &extra)?;
    left.extend(crate::web::build_paths_left(&copy.join("web/pkg"), &extra)?);
    if !left.is_empty() {
        bail!("absolute build paths remain in the wasm modules: {left:?}");
    }
    println!("reproducible: no wasm module names a directory it was built in");
    Ok(())
}

fn compare(first: &Path, second: &Path) -> Result<()> {
    let a = fs::read_to_string(first).with_context(|| format!("reading {}", first.display()))?;
    let b = fs::read_to_string(second).with_context(|| format!("reading {}", second.display()))?;
    if a != b {
        let differ: Vec<&str> = a
            .lines()
            .zip(b.lines())
            .filter(|(x, y)| x != y)
            .map(|(x, _)| x.trim())
            .collect();
        bail!("the web app is not reproducible: these manifest lines differ between the two builds: {differ:?}");
    }
    println!("reproducible: both builds serve the same files (the same {MANIFEST})");
    Ok(())
}
