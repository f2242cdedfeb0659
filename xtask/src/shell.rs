//! Helpers to run commands from the repository root, find programs, and print durations.

use std::{
    env,
    ffi::OsStr,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
    time::Duration,
};

use anyhow::{Context, Result, bail};

/// The workspace root: the parent of this crate's manifest directory.
pub(crate) fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        // `cargo run` sets CARGO_MANIFEST_DIR at run time too; the compile-time value covers running the binary directly.
        let manifest =
            env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
        manifest.parent().map_or(manifest.clone(), Path::to_path_buf)
    })
}

/// Cargo's target directory, as an absolute path.
///
/// A relative CARGO_TARGET_DIR is relative to where `cargo xtask` was started, while the commands below run from the root,
/// so it is resolved once here and handed to every cargo child as an absolute path.
pub(crate) fn target_dir() -> &'static Path {
    static TARGET: OnceLock<PathBuf> = OnceLock::new();
    TARGET.get_or_init(|| match env::var_os("CARGO_TARGET_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                env::current_dir().map(|cwd| cwd.join(&dir)).unwrap_or(dir)
            }
        }
        None => root().join("target"),
    })
}

/// A command for `program` that runs in the repository root.
pub(crate) fn command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(root());
    cmd
}

/// A cargo command from the same toolchain that runs xtask, sharing its target directory.
pub(crate) fn cargo() -> Command {
    let mut cmd = command(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.env("CARGO_TARGET_DIR", target_dir());
    cmd
}

/// The command line as a person would type it, for progress lines and error messages.
pub(crate) fn display(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program());
    // Show `cargo`, not the toolchain's absolute path that the CARGO variable holds.
    let mut line = program
        .file_name()
        .unwrap_or(program.as_os_str())
        .to_string_lossy()
        .into_owned();
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// Runs a command with inherited output and fails unless it exits successfully.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let line = display(cmd);
    println!("    $ {line}");
    let status = cmd.status().with_context(|| format!("could not start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs a command quietly and returns its standard output, failing unless it exits successfully.
pub(crate) fn output(cmd: &mut Command) -> Result<String> {
    let line = display(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start `{line}`"))?;
    if !out.status.success() {
        bail!(
            "`{line}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Finds an executable on PATH, like `command -v`.
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// Whether this process runs as root, which installing Debian packages needs.
pub(crate) fn is_root() -> bool {
    // /proc/self/status avoids a libc dependency; its Uid line lists real, effective, saved and filesystem ids.
    std::fs::read_to_string("/proc/self/status").ok().and_then(|status| {
        let uids = status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))?
            .split_whitespace()
            .nth(1)?
            .to_owned();
        Some(uids == "0")
    }) == Some(true)
}

/// A duration as a short human string: `0.4s`, `12.3s`, `4m 05s`.
pub(crate) fn human(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = duration.as_secs();
        format!("{}m {:02}s", whole / 60, whole % 60)
    }
}

/// A byte count as KiB with one decimal, for size reports.
pub(crate) fn kib(bytes: u64) -> String {
    let kib = bytes as f64 / 1024.0;
    format!("{kib:.1} KiB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(Duration::from_millis(400)), "0.4s");
        assert_eq!(human(Duration::from_millis(59_940)), "59.9s");
        assert_eq!(human(Duration::from_secs(245)), "4m 05s");
    }

    #[test]
    fn sizes_are_in_kib() {
        assert_eq!(kib(1536), "1.5 KiB");
    }

    #[test]
    fn root_holds_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("root manifest");
        assert!(manifest.contains("[workspace]"));
    }

    #[test]
    fn display_shows_program_and_arguments() {
        let mut cmd = Command::new("/usr/bin/env");
        cmd.args(["a", "b c"]);
        assert_eq!(display(&cmd), "env a b c");
    }
}
