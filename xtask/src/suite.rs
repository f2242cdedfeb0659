//! `cargo xtask test`: every check CI runs, in order, stopping at the first failure, with a timing summary.

use std::{
    fmt,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};

use crate::{
    NotBuiltYet, bench,
    install::{self, Browser},
    relay, reproducible,
    shell::{cargo, command, find_program, human, root, run},
    web,
};

/// The steps in the order they run; `--only` takes one of these names.
pub(crate) const STEPS: [&str; 10] = [
    "install",
    "fmt",
    "clippy",
    "test",
    "build-web",
    "reproducible",
    "typecheck",
    "relay",
    "browser",
    "bench",
];

/// Options of `cargo xtask test`; CI uses none of them.
#[derive(Debug, Default)]
pub(crate) struct Options {
    pub(crate) skip_browser: bool,
    pub(crate) skip_bench: bool,
    pub(crate) skip_reproducible: bool,
    pub(crate) only: Option<String>,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--skip-browser" => options.skip_browser = true,
                "--skip-bench" => options.skip_bench = true,
                "--skip-reproducible" => options.skip_reproducible = true,
                "--only" => {
                    let Some(step) = args.next() else {
                        bail!("--only needs a step name: {}", STEPS.join(", "))
                    };
                    if !STEPS.contains(&step.as_str()) {
                        bail!("unknown step {step:?} for --only; the steps are {}", STEPS.join(", "));
                    }
                    options.only = Some(step.clone());
                }
                other => bail!(
                    "unknown option {other:?} for `cargo xtask test` (--skip-browser, --skip-bench, --skip-reproducible, --only <step>)"
                ),
            }
        }
        Ok(options)
    }
}

/// How a step ended.
enum Outcome {
    Passed,
    Skipped(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Passed => f.write_str("passed"),
            Self::Skipped(why) => write!(f, "skipped: {why}"),
        }
    }
}

/// Runs the pipeline; returns an error naming the failed step after printing the summary.
pub(crate) fn test(options: &Options) -> Result<()> {
    let started = Instant::now();
    let mut summary: Vec<(&str, Duration, String)> = Vec::new();
    let selected: Vec<&str> = STEPS
        .iter()
        .copied()
        .filter(|step| options.only.as_deref().is_none_or(|only| only == *step))
        .collect();
    for (index, &name) in selected.iter().enumerate() {
        println!("\n==> [{}/{}] {name}", index + 1, selected.len());
        let step_started = Instant::now();
        let result = step(name, options);
        let took = step_started.elapsed();
        match result {
            Ok(outcome) => {
                println!("<== {name}: {outcome} ({})", human(took));
                summary.push((name, took, outcome.to_string()));
            }
            Err(error) => {
                println!("<== {name}: FAILED ({})", human(took));
                summary.push((name, took, "FAILED".into()));
                print_summary(&summary, started.elapsed());
                return Err(error.context(format!("step `{name}` failed; the steps after it did not run")));
            }
        }
    }
    print_summary(&summary, started.elapsed());
    Ok(())
}

fn step(name: &str, options: &Options) -> Result<Outcome> {
    match name {
        "install" => {
            install::install(if options.skip_browser {
                Browser::Skip
            } else {
                Browser::Install
            })?;
        }
        "fmt" => run(cargo().args(["fmt", "--all", "--check"]))?,
        "clippy" => run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?,
        // --no-fail-fast runs every test binary, so one run shows every failure rather than the first.
        "test" => run(cargo().args(["test", "--workspace", "--no-fail-fast"]))?,
        "build-web" => web::build_web()?,
        // A second clean build of both wasm modules: minutes on a cold cache, so a developer may skip it.
        "reproducible" if options.skip_reproducible => return Ok(Outcome::Skipped("--skip-reproducible".into())),
        "reproducible" => reproducible::check()?,
        "typecheck" => typecheck()?,
        "relay" => {
            relay::build_for_tests()?;
        }
        "browser" => return browser(options),
        "bench" => return bench_smoke(options),
        other => bail!("no step named {other:?}"),
    }
    Ok(Outcome::Passed)
}

/// Type-checks every web module (`// @ts-check` and JSDoc) with the TypeScript of the npm lockfile: the page's modules
/// against the DOM, the Workers against the Worker globals and the wasm bindings that build-web wrote into web/pkg.
fn typecheck() -> Result<()> {
    let tsc = root().join("node_modules/.bin/tsc");
    if !tsc.is_file() {
        bail!("{} is missing; run `cargo xtask install`", tsc.display());
    }
    for project in ["web/tsconfig.json", "web/tsconfig.worker.json"] {
        run(command(&tsc).args(["--noEmit", "-p", project]))?;
    }
    Ok(())
}

fn browser(options: &Options) -> Result<Outcome> {
    if options.skip_browser {
        return Ok(Outcome::Skipped("--skip-browser".into()));
    }
    let tests = root().join("tests/browser");
    if !tests.is_dir() {
        return Ok(Outcome::Skipped("tests/browser/ does not exist yet".into()));
    }
    if find_program("node").is_none() {
        bail!("node is not on PATH; install Node.js 20");
    }
    // The relay was built by the `relay` step; building again here is a no-op then, and correct under --only.
    let relay = relay::build_for_tests()?;
    let chromium = install::chromium_path();
    if !chromium.is_file() {
        bail!("{} is missing; run `cargo xtask install`", chromium.display());
    }
    // The relay serves a file's compressed variant when there is one, and the page pins each module's digest: write
    // them again, so that a source edited since the last build-web is never hidden behind an older variant or digest.
    web::finish(&root().join("web"))?;
    run(command("node")
        .args(["--test", "--test-concurrency=1", "tests/browser/"])
        .env("SANCTUM_RELAY_BIN", relay)
        .env("SANCTUM_CLI_BIN", relay::cli_binary()?)
        .env("SANCTUM_WEB_DIR", root().join("web"))
        .env("CHROMIUM_PATH", chromium))?;
    Ok(Outcome::Passed)
}

fn bench_smoke(options: &Options) -> Result<Outcome> {
    if options.skip_bench {
        return Ok(Outcome::Skipped("--skip-bench".into()));
    }
    match bench::main(vec!["--quick".into()]) {
        Ok(()) => Ok(Outcome::Passed),
        Err(error) if error.downcast_ref::<NotBuiltYet>().is_some() => Ok(Outcome::Skipped(error.to_string())),
        Err(error) => Err(error),
    }
}

fn print_summary(rows: &[(&str, Duration, String)], total: Duration) {
    println!("\n{:<11} {:>8}  result", "step", "time");
    for (name, took, outcome) in rows {
        println!("{name:<11} {:>8}  {outcome}", human(*took));
    }
    println!("{:<11} {:>8}", "total", human(total));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parses_developer_flags() {
        let options = Options::parse(&args(&["--skip-browser", "--only", "clippy"])).expect("valid flags");
        assert!(options.skip_browser && !options.skip_bench);
        assert_eq!(options.only.as_deref(), Some("clippy"));
    }

    #[test]
    fn refuses_unknown_steps_and_flags() {
        assert!(Options::parse(&args(&["--only", "lint"])).is_err());
        assert!(Options::parse(&args(&["--only"])).is_err());
        assert!(Options::parse(&args(&["--fast"])).is_err());
    }
}
