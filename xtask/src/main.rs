//! `cargo xtask`: builds, runs, tests and benchmarks Sanctum from one entry point, in place of shell scripts.

mod bench;
mod fuzz;
mod install;
mod manifest;
mod relay;
mod reproducible;
mod shell;
mod soak;
mod suite;
mod web;

use std::{fmt, process::ExitCode, time::Instant};

use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  run [-- <relay flags>]   build the wasm client and web app, start the relay on 127.0.0.1:8080 serving web/
  test [--skip-browser] [--skip-bench] [--only <step>]
                           install what is missing, then fmt, clippy, cargo test, build-web, browser tests, bench smoke
  install [--skip-browser] install the wasm target, wasm-bindgen-cli, Chromium and the npm lockfile, when missing
  build-web                build web/pkg/ (wasm client and bindings) and web/vendor/ (npm files named in web/vendor.json)
  bench [--quick]          benchmark the relay against a bare fan-out ceiling, and the client crypto
  soak --minutes <N>       run the relay under sustained load for N minutes
  fuzz [--seconds <N>]     fuzz the wire decoders";

/// Returned by a subcommand whose implementation has not landed yet, so that `test` can skip it rather than fail.
#[derive(Debug)]
pub(crate) struct NotBuiltYet(pub(crate) &'static str);

impl fmt::Display for NotBuiltYet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`cargo xtask {}` is not built yet", self.0)
    }
}

impl std::error::Error for NotBuiltYet {}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\nxtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(mut args: Vec<String>) -> Result<()> {
    if args.is_empty() {
        println!("{USAGE}");
        return Ok(());
    }
    let command = args.remove(0);
    match command.as_str() {
        "run" => {
            // `cargo xtask run -- --max-lifetime 60` arrives here with the `--` still in front.
            if args.first().is_some_and(|arg| arg == "--") {
                args.remove(0);
            }
            timed("install", || install::install(install::Browser::Skip))?;
            timed("build-web", web::build_web)?;
            relay::run_foreground(&args)
        }
        "test" => suite::test(&suite::Options::parse(&args)?),
        "install" => {
            let browser = match args.as_slice() {
                [] => install::Browser::Install,
                [flag] if flag == "--skip-browser" => install::Browser::Skip,
                _ => bail!("`cargo xtask install` takes only --skip-browser"),
            };
            install::install(browser)
        }
        "build-web" => {
            if !args.is_empty() {
                bail!("`cargo xtask build-web` takes no arguments");
            }
            timed("install", || install::install(install::Browser::Skip))?;
            timed("build-web", web::build_web)
        }
        "bench" => bench::main(args),
        "soak" => soak::main(args),
        "fuzz" => fuzz::main(args),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
}

/// Runs one step of `run` or `build-web`, printing its name and how long it took.
fn timed(name: &str, step: impl FnOnce() -> Result<()>) -> Result<()> {
    println!("==> {name}");
    let started = Instant::now();
    step()?;
    println!("<== {name}: done ({})", shell::human(started.elapsed()));
    Ok(())
}
