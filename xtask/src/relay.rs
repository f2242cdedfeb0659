//! Builds the relay binary and runs it in the foreground for `cargo xtask run`.

use std::{os::unix::process::CommandExt, path::PathBuf};

use anyhow::{Context, Result, bail};

use crate::shell::{cargo, display, root, run, target_dir};

/// The address `cargo xtask run` serves on unless the extra arguments say otherwise.
const LISTEN: &str = "127.0.0.1:8080";

/// Builds `target/debug/sanctum-relay` and the terminal client `target/debug/sanctum` for the browser tests (and any
/// other harness that runs the binaries) and returns the relay's path; [`cli_binary`] gives the client's.
///
/// Why debug and why these flags: `cargo test --workspace` has just compiled every dependency in the dev profile with the
/// features unified across the whole workspace, dev-dependencies included (tokio's test-util and "full", for instance).
/// `cargo build -p sanctum-relay` would resolve a smaller feature set and so compile tokio, hyper, axum and the rest a
/// second time, which costs minutes on two cores; a release build would compile everything again with LTO.
/// Selecting `--workspace --tests` makes cargo resolve exactly the features `cargo test --workspace` used, so the
/// only new work is the relay's own binary (often none: cargo test builds it for the relay's integration tests).
/// A debug relay is fast enough for browser tests, which wait on Argon2 in the browser, not on the relay.
pub(crate) fn build_for_tests() -> Result<PathBuf> {
    run(cargo().args([
        "build",
        "--workspace",
        "--tests",
        "--bin",
        "sanctum-relay",
        "--bin",
        "sanctum",
    ]))?;
    binary()
}

/// The terminal client built by [`build_for_tests`].
pub(crate) fn cli_binary() -> Result<PathBuf> {
    let binary = target_dir().join("debug/sanctum");
    if !binary.is_file() {
        bail!("{} was not built", binary.display());
    }
    Ok(binary)
}

/// Builds the relay alone in the dev profile, the quickest build from a cold start, and execs it serving web/.
///
/// `extra` is passed through to the relay; `--listen` and `--web-dir` are added only when `extra` does not set them.
pub(crate) fn run_foreground(extra: &[String]) -> Result<()> {
    run(cargo().args(["build", "-p", "sanctum-relay"]))?;
    let binary = binary()?;
    let mut relay = std::process::Command::new(&binary);
    relay.current_dir(root());
    if !has_flag(extra, "--listen") {
        relay.args(["--listen", LISTEN]);
    }
    if !has_flag(extra, "--web-dir") {
        relay.arg("--web-dir").arg(root().join("web"));
    }
    relay.args(extra);
    println!("run: $ {}", display(&relay));
    println!("run: open http://{LISTEN}/ (unless --listen says otherwise); Ctrl-C stops the relay");
    // Replace this process so that Ctrl-C and SIGTERM reach the relay directly and it shuts down gracefully.
    let error = relay.exec();
    Err(error).with_context(|| format!("could not start {}", binary.display()))
}

fn binary() -> Result<PathBuf> {
    let binary = target_dir().join("debug/sanctum-relay");
    if !binary.is_file() {
        bail!(
            "{} was not built; does relay/ define the sanctum-relay binary yet?",
            binary.display()
        );
    }
    Ok(binary)
}

/// Whether `args` sets `flag`, as `--flag value` or `--flag=value`.
fn has_flag(args: &[String], flag: &str) -> bool {
    args.iter()
        .any(|arg| arg == flag || arg.strip_prefix(flag).is_some_and(|rest| rest.starts_with('=')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_both_flag_spellings() {
        let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(has_flag(&args(&["--listen", "[::1]:9000"]), "--listen"));
        assert!(has_flag(&args(&["--listen=[::1]:9000"]), "--listen"));
        assert!(!has_flag(&args(&["--listener", "x"]), "--listen"));
        assert!(!has_flag(&args(&["--max-lifetime", "60"]), "--listen"));
    }
}
