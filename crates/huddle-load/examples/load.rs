//! Standalone load generator: `cargo run --release -p huddle-load --example
//! load -- --admin-key KEY [--clients 100 --boards 10 --rate 0 ...]`.

use clap::Parser;

/// Drives a running Huddle server with WebSocket clients and reports
/// throughput and ack latency.
#[derive(Parser)]
#[command(name = "load")]
struct Cli {
    #[command(flatten)]
    args: huddle_load::LoadArgs,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(huddle_load::run(cli.args)) {
        Ok(report) => {
            println!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("huddle load: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
