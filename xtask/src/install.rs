//! Installs what building and testing need, each piece only when it is missing: the wasm target,
//! wasm-bindgen-cli at the Cargo.lock version, Debian's Chromium, and the npm lockfile.

use std::{
    fs,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{Context, Result, bail};

use crate::shell::{self, cargo, command, find_program, human, output, root, run};

/// The browser that the browser tests drive, unless CHROMIUM_PATH names another.
const DEBIAN_CHROMIUM: &str = "/usr/bin/chromium";

/// The Redis server the scale-out tests start, unless REDIS_SERVER names another.
const DEBIAN_REDIS_SERVER: &str = "/usr/bin/redis-server";

/// Marks a finished `npm ci`; `npm ci` runs again when package-lock.json is newer than it.
const NPM_STAMP: &str = "node_modules/.xtask-npm-ci.stamp";

/// Whether the install also brings Chromium, which only the browser tests need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Browser {
    Install,
    Skip,
}

/// What one install item did.
enum Outcome {
    Skipped(String),
    Done(String),
}

/// Installs every missing piece, printing one line per piece.
pub(crate) fn install(browser: Browser) -> Result<()> {
    item("wasm32-unknown-unknown target", wasm_target)?;
    item("wasm-bindgen-cli", wasm_bindgen_cli)?;
    if browser == Browser::Install {
        item("chromium", chromium)?;
    }
    item("tmux", tmux)?;
    item("nginx", nginx)?;
    item("redis-server", redis_server)?;
    item("npm packages", npm_packages)?;
    Ok(())
}

fn item(name: &str, step: impl FnOnce() -> Result<Outcome>) -> Result<()> {
    let started = Instant::now();
    let outcome = step().with_context(|| format!("installing {name}"))?;
    let took = human(started.elapsed());
    match outcome {
        Outcome::Skipped(why) => println!("install: {name}: skipped, {why} ({took})"),
        Outcome::Done(what) => println!("install: {name}: done, {what} ({took})"),
    }
    Ok(())
}

fn wasm_target() -> Result<Outcome> {
    const TARGET: &str = "wasm32-unknown-unknown";
    if find_program("rustup").is_none() {
        bail!("rustup is not on PATH; install Rust with rustup, or add the {TARGET} target to your toolchain yourself");
    }
    // Run from the root so that rust-toolchain.toml picks the toolchain being asked about.
    let installed = output(command("rustup").args(["target", "list", "--installed"]))?;
    if installed.lines().any(|line| line.trim() == TARGET) {
        return Ok(Outcome::Skipped("already installed".into()));
    }
    run(command("rustup").args(["target", "add", TARGET]))?;
    Ok(Outcome::Done("added with rustup".into()))
}

/// The version of the `wasm-bindgen` crate in Cargo.lock, if the client uses it yet.
pub(crate) fn locked_wasm_bindgen() -> Result<Option<String>> {
    let lock = fs::read_to_string(root().join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut versions = lockfile_versions(&lock, "wasm-bindgen");
    match versions.len() {
        0 | 1 => Ok(versions.pop()),
        _ => bail!(
            "Cargo.lock holds several wasm-bindgen versions ({}); the CLI must match exactly one",
            versions.join(", ")
        ),
    }
}

/// Every version of package `name` in the text of a Cargo.lock file.
fn lockfile_versions(lock: &str, name: &str) -> Vec<String> {
    let mut versions = Vec::new();
    let mut current = None;
    for line in lock.lines().map(str::trim) {
        if line == "[[package]]" {
            current = None;
        } else if let Some(value) = line.strip_prefix("name = ") {
            current = Some(value.trim_matches('"'));
        } else if let Some(value) = line.strip_prefix("version = ")
            && current == Some(name)
        {
            versions.push(value.trim_matches('"').to_owned());
        }
    }
    versions
}

/// The wasm-bindgen executable: on PATH, or where `cargo install` puts it when PATH lacks that folder.
pub(crate) fn wasm_bindgen_program() -> Option<PathBuf> {
    find_program("wasm-bindgen").or_else(|| {
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))?;
        Some(cargo_home.join("bin/wasm-bindgen")).filter(|path| path.is_file())
    })
}

/// The version that `wasm-bindgen --version` reports, e.g. `0.2.100` from `wasm-bindgen 0.2.100`.
fn installed_wasm_bindgen() -> Option<String> {
    let program = wasm_bindgen_program()?;
    let out = output(command(program).arg("--version")).ok()?;
    out.split_whitespace().nth(1).map(str::to_owned)
}

fn wasm_bindgen_cli() -> Result<Outcome> {
    let Some(wanted) = locked_wasm_bindgen()? else {
        return Ok(Outcome::Skipped("Cargo.lock has no wasm-bindgen yet".into()));
    };
    let installed = installed_wasm_bindgen();
    if installed.as_deref() == Some(wanted.as_str()) {
        return Ok(Outcome::Skipped(format!("{wanted} already installed")));
    }
    // The CLI and the wasm-bindgen crate must agree exactly, or the generated glue refuses the module.
    // Default features only add TLS for the test runner's downloads, which nothing here uses; leaving them out saves
    // compiling rustls and its C code, about a fifth of the install time.
    let install = [
        "install",
        "wasm-bindgen-cli",
        "--version",
        &wanted,
        "--no-default-features",
    ];
    if let Err(error) = run(cargo().args(install).arg("--locked")) {
        // --locked fails when one of the CLI's locked dependencies has since been yanked; the resolver then picks another.
        println!("install: wasm-bindgen-cli: `--locked` failed ({error:#}); retrying without it");
        run(cargo().args(install))?;
    }
    match installed_wasm_bindgen() {
        Some(now) if now == wanted => {}
        Some(now) => bail!("wasm-bindgen on PATH reports {now} after installing {wanted}; remove the other copy"),
        None => bail!("wasm-bindgen {wanted} was installed but cannot be found; add ~/.cargo/bin to PATH"),
    }
    let was = installed.map_or_else(String::new, |old| format!(", replacing {old}"));
    Ok(Outcome::Done(format!("installed {wanted}{was}")))
}

/// The Chromium executable the browser tests use.
pub(crate) fn chromium_path() -> PathBuf {
    std::env::var_os("CHROMIUM_PATH")
        .filter(|path| !path.is_empty())
        .map_or_else(|| PathBuf::from(DEBIAN_CHROMIUM), PathBuf::from)
}

fn chromium() -> Result<Outcome> {
    let path = chromium_path();
    if path.is_file() {
        return Ok(Outcome::Skipped(format!("{} present", path.display())));
    }
    if !shell::is_root() {
        bail!(
            "{} is missing and installing it needs root: run `sudo apt-get update && sudo apt-get install -y chromium`, \
             or set CHROMIUM_PATH to a Chromium binary, or pass --skip-browser",
            path.display()
        );
    }
    run(command("apt-get")
        .arg("update")
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    run(command("apt-get")
        .args(["install", "-y", "chromium"])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    if !path.is_file() {
        bail!(
            "apt-get installed chromium but {} is still missing; set CHROMIUM_PATH",
            path.display()
        );
    }
    Ok(Outcome::Done("installed Debian's chromium".into()))
}

/// tmux runs the terminal client's full-screen interface in a real terminal for its test.
fn tmux() -> Result<Outcome> {
    debian_package("tmux", "tmux")
}

/// nginx runs the operating guide's own example in front of a relay for its test (`tests/tests/nginx.rs`).
fn nginx() -> Result<Outcome> {
    if Path::new(NGINX).is_file() {
        return Ok(Outcome::Skipped(format!("{NGINX} is there")));
    }
    debian_package("nginx", "nginx")
}

/// Where Debian puts nginx, which is not on a user's PATH.
const NGINX: &str = "/usr/sbin/nginx";

/// Installs Debian's `package` unless `program` is on PATH already.
fn debian_package(program: &str, package: &str) -> Result<Outcome> {
    if find_program(program).is_some() {
        return Ok(Outcome::Skipped("already on PATH".into()));
    }
    if !shell::is_root() {
        bail!("{program} is missing and installing it needs root: run `sudo apt-get install -y {package}`");
    }
    run(command("apt-get")
        .args(["install", "-y", package])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    Ok(Outcome::Done(format!("installed Debian's {package}")))
}

/// The Redis server the scale-out tests start.
pub(crate) fn redis_server_path() -> PathBuf {
    std::env::var_os("REDIS_SERVER")
        .filter(|path| !path.is_empty())
        .map_or_else(|| PathBuf::from(DEBIAN_REDIS_SERVER), PathBuf::from)
}

/// Debian's redis-server, which the tests run as their own process (memory only, on a free port); Debian's
/// package also starts a system service, which the tests never use.
fn redis_server() -> Result<Outcome> {
    let path = redis_server_path();
    if path.is_file() {
        return Ok(Outcome::Skipped(format!("{} present", path.display())));
    }
    if !shell::is_root() {
        bail!(
            "{} is missing and installing it needs root: run `sudo apt-get update && sudo apt-get install -y redis-server`, \
             or set REDIS_SERVER to a redis-server binary",
            path.display()
        );
    }
    run(command("apt-get")
        .arg("update")
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    run(command("apt-get")
        .args(["install", "-y", "--no-install-recommends", "redis-server"])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    if !path.is_file() {
        bail!(
            "apt-get installed redis-server but {} is still missing; set REDIS_SERVER",
            path.display()
        );
    }
    Ok(Outcome::Done("installed Debian's redis-server".into()))
}

fn npm_packages() -> Result<Outcome> {
    let lock = root().join("package-lock.json");
    if !lock.is_file() {
        return Ok(Outcome::Skipped("no package-lock.json yet".into()));
    }
    let stamp = root().join(NPM_STAMP);
    if is_newer_or_same(&stamp, &lock) {
        return Ok(Outcome::Skipped("node_modules matches package-lock.json".into()));
    }
    if find_program("npm").is_none() {
        bail!("npm is not on PATH; install Node.js 20 and npm");
    }
    run(command("npm").args(["ci", "--no-audit", "--no-fund"]))?;
    fs::write(
        &stamp,
        "npm ci finished; xtask runs it again when package-lock.json is newer than this file\n",
    )
    .with_context(|| format!("writing {}", stamp.display()))?;
    Ok(Outcome::Done("ran npm ci".into()))
}

/// Whether `file` exists and was modified no earlier than `than`.
fn is_newer_or_same(file: &Path, than: &Path) -> bool {
    let modified = |path: &Path| fs::metadata(path).and_then(|meta| meta.modified()).ok();
    match (modified(file), modified(than)) {
        (Some(file), Some(than)) => file >= than,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    fn set_modified(path: &Path, time: SystemTime) {
        fs::File::options()
            .write(true)
            .open(path)
            .and_then(|file| file.set_modified(time))
            .expect("set mtime");
    }

    const LOCK: &str = r#"# This file is automatically @generated by Cargo.
version = 4

[[package]]
name = "wasm-bindgen"
version = "0.2.100"
source = "registry+https://github.com/rust-lang/crates.io-index"
dependencies = [
 "wasm-bindgen-macro",
]

[[package]]
name = "wasm-bindgen-macro"
version = "0.2.99"
"#;

    #[test]
    fn finds_the_locked_version_of_exactly_the_named_package() {
        assert_eq!(lockfile_versions(LOCK, "wasm-bindgen"), ["0.2.100"]);
        assert_eq!(lockfile_versions(LOCK, "wasm-bindgen-macro"), ["0.2.99"]);
        assert!(lockfile_versions(LOCK, "serde").is_empty());
    }

    #[test]
    fn reads_this_workspace_lockfile() {
        // Whatever the client depends on today, the real file parses and holds at most one version.
        let version = locked_wasm_bindgen().expect("Cargo.lock parses");
        assert!(
            version.as_ref().is_none_or(|v| v.split('.').count() == 3),
            "{version:?}"
        );
    }

    #[test]
    fn stamp_older_than_the_lockfile_means_install_again() {
        let dir = std::env::temp_dir().join(format!("xtask-stamp-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let (stamp, lock) = (dir.join("stamp"), dir.join("lock"));
        assert!(!is_newer_or_same(&stamp, &lock), "a missing stamp is never fresh");
        fs::write(&stamp, "").expect("stamp");
        fs::write(&lock, "").expect("lock");
        let now = SystemTime::now();
        set_modified(&stamp, now);
        set_modified(&lock, now - Duration::from_secs(60));
        assert!(is_newer_or_same(&stamp, &lock));
        set_modified(&lock, now + Duration::from_secs(60));
        assert!(!is_newer_or_same(&stamp, &lock));
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}
