//! The `didgate` binary.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DIDGATE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("didgate=info,warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = didgate::cli::Cli::parse();
    match didgate::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            if let Some(didgate::cli::exit::Exit(code)) = e.downcast_ref() {
                return std::process::ExitCode::from(*code);
            }
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
