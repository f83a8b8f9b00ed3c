//! `minesim sv2-miner`: one SV2 CPU miner from the command line.

use std::time::Duration;

use super::{spawn_sv2_miner, ChannelKind, Sv2MinerConfig, Sv2MinerError};

/// Arguments of `minesim sv2-miner`.
#[derive(Debug, clap::Args)]
pub struct Sv2MinerArgs {
    /// SV2 server to mine on (HOST:PORT).
    #[arg(long)]
    pub address: String,
    /// The server's authority public key (base58check); without it any certificate is accepted.
    #[arg(long)]
    pub pubkey: Option<String>,
    /// `user_identity` of the channels.
    #[arg(long, default_value = "minesim")]
    pub user: String,
    /// Hashrate cap in H/s, across all channels.
    #[arg(long, default_value_t = 100_000.0)]
    pub hashrate: f64,
    /// Open extended channels instead of standard ones.
    #[arg(long)]
    pub extended: bool,
    /// Smallest rollable extranonce to ask for on extended channels, in bytes.
    #[arg(long, default_value_t = 8, requires = "extended")]
    pub extranonce_size: u16,
    /// Channels to open on the connection.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub channels: u32,
    /// Set REQUIRES_STANDARD_JOBS in SetupConnection.
    #[arg(long)]
    pub requires_standard_jobs: bool,
    /// Set REQUIRES_VERSION_ROLLING in SetupConnection.
    #[arg(long)]
    pub requires_version_rolling: bool,
    /// Never roll version bits.
    #[arg(long)]
    pub no_version_rolling: bool,
    /// Exit after this many accepted shares.
    #[arg(long)]
    pub count: Option<u64>,
    /// Exit on disconnect instead of reconnecting.
    #[arg(long)]
    pub no_reconnect: bool,
}

/// Runs the miner until `--count` accepted shares, Ctrl-C, or the miner stops on its own (an
/// error, or a disconnect with `--no-reconnect`), which is returned as an error.
pub async fn run_cli(args: Sv2MinerArgs) -> Result<(), Sv2MinerError> {
    let mut config = Sv2MinerConfig::new(args.address, args.user);
    if let Some(key) = args.pubkey {
        config.authority = Some(
            key.parse()
                .map_err(|e| Sv2MinerError::InvalidKey(format!("{e}")))?,
        );
    }
    config.hashrate_cap = args.hashrate;
    config.channels = args.channels;
    if args.extended {
        config.channel_kind = ChannelKind::Extended {
            min_extranonce_size: args.extranonce_size,
        };
    }
    config.requires_standard_jobs = args.requires_standard_jobs;
    config.requires_version_rolling = args.requires_version_rolling;
    config.version_rolling = !args.no_version_rolling;
    config.reconnect = !args.no_reconnect;
    let miner = spawn_sv2_miner(config);
    let stats = miner.stats().clone();
    let mut report = tokio::time::interval(Duration::from_secs(5));
    let mut stopped_by_user = false;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => { stopped_by_user = true; break }
            _ = report.tick() => {
                tracing::info!(
                    connected = stats.connected(),
                    channels = ?stats.channel_ids(),
                    submitted = stats.shares_submitted(),
                    accepted = stats.shares_accepted(),
                    rejected = stats.shares_rejected(),
                    difficulty = stats.difficulty(),
                    "sv2-miner"
                );
            }
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        if args
            .count
            .is_some_and(|count| stats.shares_accepted() >= count)
        {
            stopped_by_user = true;
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
    match (stopped_by_user, stats.last_error()) {
        (false, Some(e)) => Err(Sv2MinerError::Stopped(e)),
        _ => Ok(()),
    }
}
