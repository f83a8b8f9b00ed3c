//! `minesim v1-miner`: one CPU miner from the command line.

use std::net::SocketAddr;
use std::time::Duration;

use super::{spawn_miner, MinerConfig};

/// Arguments of `minesim v1-miner`.
#[derive(Debug, clap::Args)]
pub struct V1MinerArgs {
    /// Stratum V1 server to mine on.
    #[arg(long)]
    pub server: SocketAddr,
    /// Worker name (`account.worker`).
    #[arg(long)]
    pub user: String,
    #[arg(long, default_value = "x")]
    pub password: String,
    /// Hashrate cap in H/s.
    #[arg(long, default_value_t = 100_000.0)]
    pub hashrate: f64,
    /// Exit after this many accepted shares.
    #[arg(long)]
    pub count: Option<u64>,
    /// Don't ask for BIP310 version rolling.
    #[arg(long)]
    pub no_version_rolling: bool,
    /// Exit on disconnect instead of reconnecting.
    #[arg(long)]
    pub no_reconnect: bool,
}

/// Runs the miner until `--count` accepted shares, Ctrl-C, or (with `--no-reconnect`) disconnect.
pub async fn run_cli(args: V1MinerArgs) -> anyhow::Result<()> {
    let mut config = MinerConfig::new(args.server, args.user);
    config.password = args.password;
    config.hashrate_cap = args.hashrate;
    config.version_rolling = !args.no_version_rolling;
    config.reconnect = !args.no_reconnect;
    let miner = spawn_miner(config);
    let stats = miner.stats().clone();
    let mut report = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = report.tick() => {
                tracing::info!(
                    connected = stats.connected(),
                    submitted = stats.shares_submitted(),
                    accepted = stats.shares_accepted(),
                    rejected = stats.shares_rejected(),
                    difficulty = stats.difficulty(),
                    "v1-miner"
                );
            }
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        if args
            .count
            .is_some_and(|count| stats.shares_accepted() >= count)
        {
            break;
        }
        if stats.stopping() {
            break;
        }
    }
    miner.shutdown().await;
    println!(
        "submitted={} accepted={} rejected={} reconnects={}",
        stats.shares_submitted(),
        stats.shares_accepted(),
        stats.shares_rejected(),
        stats.reconnects()
    );
    Ok(())
}
