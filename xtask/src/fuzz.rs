//! `cargo xtask fuzz [--seconds N] [--target NAME]`: runs every cargo-fuzz target in `fuzz/` for a bounded time, one after
//! the other, and reports executions and findings per target.
//!
//! Targets run in sequence on one core, so that fuzzing leaves the rest of the machine usable.
//! cargo-fuzz needs a nightly compiler for its sanitizer flags: the nightly toolchain is used when rustup has one,
//! otherwise the stable compiler with `RUSTC_BOOTSTRAP=1`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::shell::{self, root, target_dir};

/// Seconds per target when `--seconds` is not given: long enough to get past the shallow paths.
const DEFAULT_SECONDS: u64 = 60;

/// Largest time one input may take before libFuzzer calls it a hang.
const PER_INPUT_TIMEOUT_SECS: u64 = 10;

/// What one target's run found.
#[derive(Debug)]
struct Outcome {
    target: String,
    executions: Option<u64>,
    seconds: f64,
    crashed: bool,
    log: PathBuf,
}

/// Entry point called by the dispatcher with the arguments after `fuzz`.
pub(crate) fn main(args: Vec<String>) -> Result<()> {
    let options = Options::parse(&args)?;
    ensure_cargo_fuzz()?;
    let fuzz_dir = root().join("fuzz");
    let mut targets = list_targets(&fuzz_dir.join("Cargo.toml"))?;
    if let Some(only) = &options.target {
        targets.retain(|name| name == only);
        if targets.is_empty() {
            bail!("no fuzz target named {only:?} in fuzz/Cargo.toml");
        }
    }
    let work = target_dir().join("fuzz");
    let nightly = has_nightly();
    println!(
        "fuzz: {} targets, {} s each, with {}",
        targets.len(),
        options.seconds,
        if nightly {
            "the nightly toolchain"
        } else {
            "RUSTC_BOOTSTRAP=1 on stable"
        }
    );

    let mut outcomes = Vec::new();
    for target in &targets {
        outcomes.push(run_target(&fuzz_dir, &work, target, options.seconds, nightly)?);
    }

    println!("\nfuzz summary");
    println!("{:<28} {:>14} {:>10}  result", "target", "executions", "seconds");
    for outcome in &outcomes {
        let executions = outcome.executions.map_or_else(|| "?".to_owned(), |n| n.to_string());
        let result = if outcome.crashed {
            format!("FINDING, see {}", outcome.log.display())
        } else {
            "no finding".to_owned()
        };
        println!(
            "{:<28} {executions:>14} {:>10.0}  {result}",
            outcome.target, outcome.seconds
        );
    }
    let crashed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.crashed)
        .map(|o| o.target.as_str())
        .collect();
    if !crashed.is_empty() {
        bail!(
            "fuzzing found inputs that fail in {crashed:?}; the inputs are under fuzz/artifacts/, add each as a regression test"
        );
    }
    Ok(())
}

/// Command-line options of `cargo xtask fuzz`.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    seconds: u64,
    target: Option<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options {
            seconds: DEFAULT_SECONDS,
            target: None,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--seconds" => {
                    let value = args.next().context("--seconds needs a number")?;
                    options.seconds = value
                        .parse()
                        .with_context(|| format!("--seconds {value:?} is not a number"))?;
                    if options.seconds == 0 {
                        bail!("--seconds must be at least 1");
                    }
                }
                "--target" => options.target = Some(args.next().context("--target needs a name")?.clone()),
                other => bail!("`cargo xtask fuzz` takes --seconds N and --target NAME, not {other:?}"),
            }
        }
        Ok(options)
    }
}

/// Installs cargo-fuzz from crates.io when it is not on PATH.
fn ensure_cargo_fuzz() -> Result<()> {
    if shell::find_program("cargo-fuzz").is_some() {
        return Ok(());
    }
    println!("fuzz: installing cargo-fuzz from crates.io");
    shell::run(shell::cargo().args(["install", "cargo-fuzz", "--locked"]))
}

/// Whether rustup has a nightly toolchain installed.
fn has_nightly() -> bool {
    Command::new("rustup")
        .args(["toolchain", "list"])
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|line| line.starts_with("nightly"))
        })
}

/// The `[[bin]]` names of the fuzz crate's manifest, in the order they appear.
fn list_targets(manifest: &Path) -> Result<Vec<String>> {
    let text = fs::read_to_string(manifest).with_context(|| format!("could not read {}", manifest.display()))?;
    Ok(bin_names(&text))
}

/// Extracts the `name` of every `[[bin]]` table from a Cargo manifest's text.
fn bin_names(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin && let Some(value) = line.strip_prefix("name") {
            let value = value.trim_start().trim_start_matches('=').trim().trim_matches('"');
            names.push(value.to_owned());
            in_bin = false;
        }
    }
    names
}

/// Builds and runs one target for `seconds`, keeping its corpus between runs under the target directory.
fn run_target(fuzz_dir: &Path, work: &Path, target: &str, seconds: u64, nightly: bool) -> Result<Outcome> {
    let corpus = work.join("corpus").join(target);
    let logs = work.join("logs");
    fs::create_dir_all(&corpus).with_context(|| format!("could not create {}", corpus.display()))?;
    fs::create_dir_all(&logs).with_context(|| format!("could not create {}", logs.display()))?;
    let log = logs.join(format!("{target}.log"));
    let log_file = fs::File::create(&log).with_context(|| format!("could not create {}", log.display()))?;

    // The CARGO variable names the stable toolchain's cargo itself; only rustup's `cargo` proxy understands `+nightly`.
    let mut cmd = Command::new("cargo");
    if nightly {
        cmd.arg("+nightly");
    } else {
        cmd.env("RUSTC_BOOTSTRAP", "1");
    }
    // Keep the toolchain choice to `+nightly` above, not to whatever rustup chose for the xtask process.
    cmd.env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("RUSTC");
    cmd.current_dir(fuzz_dir)
        .env("CARGO_TARGET_DIR", work.join("build"))
        .args(["fuzz", "run", target])
        .arg(&corpus)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={PER_INPUT_TIMEOUT_SECS}"))
        .arg("-print_final_stats=1")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file);
    println!("==> fuzz {target} for {seconds} s (log: {})", log.display());
    let started = Instant::now();
    let status = cmd
        .status()
        .with_context(|| format!("could not start cargo fuzz for {target}"))?;
    let elapsed = started.elapsed();
    let text = fs::read_to_string(&log).unwrap_or_default();
    let executions = executions(&text);
    let crashed = !status.success();
    if crashed {
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        for line in tail.into_iter().rev() {
            println!("    {line}");
        }
    }
    println!(
        "<== fuzz {target}: {} executions in {}{}",
        executions.map_or_else(|| "?".to_owned(), |n| n.to_string()),
        shell::human(elapsed),
        if crashed { ", FAILED" } else { "" }
    );
    Ok(Outcome {
        target: target.to_owned(),
        executions,
        seconds: fuzzing_seconds(&text).map_or(elapsed.as_secs_f64(), |secs| secs as f64),
        crashed,
        log,
    })
}

/// The number of executions libFuzzer reports, from its final statistics or its last status line.
fn executions(log: &str) -> Option<u64> {
    let from_stats = log.lines().rev().find_map(|line| {
        line.strip_prefix("stat::number_of_executed_units:")
            .and_then(|n| n.trim().parse().ok())
    });
    from_stats.or_else(|| {
        log.lines().rev().find_map(|line| {
            let rest = line.strip_prefix("Done ")?;
            rest.split_whitespace().next()?.parse().ok()
        })
    })
}

/// The seconds libFuzzer itself ran, without the build, from its `Done N runs in S second(s)` line.
fn fuzzing_seconds(log: &str) -> Option<u64> {
    log.lines().rev().find_map(|line| {
        let rest = line.strip_prefix("Done ")?;
        rest.split_whitespace().nth(3)?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_bin_name() {
        let manifest = "[package]\nname = \"sanctum-fuzz\"\n\n[[bin]]\nname = \"a\"\npath = \"x\"\n\n[dependencies]\nname = \"no\"\n\n[[bin]]\nname=\"b\"\n";
        assert_eq!(bin_names(manifest), vec!["a".to_owned(), "b".to_owned()]);
    }

    #[test]
    fn reads_executions_from_libfuzzer_output() {
        let log = "#1024 pulse\nDone 372095 runs in 21 second(s)\nstat::number_of_executed_units: 372100\n";
        assert_eq!(executions(log), Some(372_100));
        assert_eq!(executions("Done 12 runs in 1 second(s)\n"), Some(12));
        assert_eq!(executions("nothing"), None);
        assert_eq!(fuzzing_seconds(log), Some(21));
    }

    #[test]
    fn parses_options() {
        let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            Options::parse(&args(&["--seconds", "5"])).ok(),
            Some(Options {
                seconds: 5,
                target: None
            })
        );
        assert!(Options::parse(&args(&["--seconds", "0"])).is_err());
        assert!(Options::parse(&args(&["--minutes", "5"])).is_err());
    }

    #[test]
    fn the_fuzz_crate_lists_targets() {
        let targets = list_targets(&root().join("fuzz/Cargo.toml")).expect("fuzz/Cargo.toml is readable");
        assert!(targets.contains(&"protocol_decode".to_owned()), "{targets:?}");
    }
}
