//! `sanctum`: the terminal client. The library does the work; this only parses the arguments and sets the exit code.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let cli = sanctum_cli::Cli::parse();
    match sanctum_cli::main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sanctum: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
