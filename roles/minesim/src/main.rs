//! `minesim`: simulated mining peers. A thin dispatcher; each subcommand lives with its role.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "minesim",
    about = "Simulated mining peers for tests, demos and benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A Stratum V1 CPU miner (real sha256d, capped hashrate).
    V1Miner(minesim::v1_miner::V1MinerArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match Cli::parse().command {
        Command::V1Miner(args) => minesim::v1_miner::run_cli(args).await,
    }
}
