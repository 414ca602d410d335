//! `huddle`: the reference server's binary. See `huddle --help`.

#![forbid(unsafe_code)]

use clap::Parser;
use huddle_server::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            println!("{args:?}");
            std::process::ExitCode::SUCCESS
        }
    }
}
