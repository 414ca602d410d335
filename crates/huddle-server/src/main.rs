//! `huddle`: the reference server's binary. See `huddle --help`.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use huddle_server::cli::{Cli, Command};
use huddle_server::runtime::RuntimeSettings;
use tracing_subscriber::EnvFilter;

/// jemalloc, with its background purging thread on from the start (the
/// crate's `background_threads` feature): the memory of archived boards
/// goes back to the OS within about ten seconds, which glibc's malloc does
/// not do for the payload sizes boards hold (`docs/decisions.md`, "Memory returned after
/// archiving", has the measurement).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match &cli.command {
        Command::Serve(args) => RuntimeSettings::from_args(args).build(),
        #[cfg(feature = "load")]
        Command::Load(_) => huddle_server::runtime::default_runtime(),
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("huddle: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => huddle_server::serve::run(*args).await,
            #[cfg(feature = "load")]
            Command::Load(args) => match huddle_load::run(*args).await {
                Ok(report) => {
                    println!("{report}");
                    Ok(())
                }
                Err(e) => Err(anyhow::anyhow!("load: {e}")),
            },
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("huddle: {e:#}");
            ExitCode::FAILURE
        }
    }
}
