//! `minesim load` on the command line.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::{run, LoadConfig};

/// Load a Stratum V1 proxy with many devices submitting real shares, and measure it.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// The proxy's Stratum V1 listener.
    #[arg(long)]
    pub connect: SocketAddr,
    /// Connections that submit shares.
    #[arg(long, default_value_t = 100)]
    pub connections: usize,
    /// Further connections that only hold a job.
    #[arg(long, default_value_t = 0)]
    pub idle: usize,
    /// Shares per second per submitting connection.
    #[arg(long, default_value_t = 1.0)]
    pub share_rate: f64,
    /// Seconds of measuring (after every connection is ready).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Local address to connect from; repeat to spread connections over several.
    #[arg(long = "source-ip")]
    pub source_ips: Vec<IpAddr>,
    /// Worker names are USER.N.
    #[arg(long, default_value = "load")]
    pub user: String,
    /// The pool's control port (`minesim pool --control`), to trigger new blocks.
    #[arg(long)]
    pub pool_control: Option<SocketAddr>,
    /// New blocks (prev hashes) to trigger while measuring, for the fan-out figures.
    #[arg(long, default_value_t = 0)]
    pub new_blocks: u32,
    /// Milliseconds between two triggered blocks.
    #[arg(long, default_value_t = 1000)]
    pub block_spacing_ms: u64,
    /// Process id of the proxy, for its CPU time and memory.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Connections between connect and ready at once.
    #[arg(long, default_value_t = 256)]
    pub handshake_concurrency: usize,
    /// Seconds to wait for every connection to be ready.
    #[arg(long, default_value_t = 60)]
    pub ready_timeout_secs: u64,
    /// Also write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub async fn run_cli(args: LoadArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.duration.is_finite() && args.duration > 0.0,
        "--duration must be a positive number of seconds"
    );
    let mut config = LoadConfig::new(
        args.connect,
        args.connections,
        args.share_rate,
        Duration::from_secs_f64(args.duration),
    );
    config.idle = args.idle;
    config.source_ips = args.source_ips;
    config.user = args.user;
    config.pool_control = args.pool_control;
    config.new_blocks = args.new_blocks;
    config.block_spacing = Duration::from_millis(args.block_spacing_ms);
    config.sut_pid = args.pid;
    config.handshake_concurrency = args.handshake_concurrency;
    config.ready_timeout = Duration::from_secs(args.ready_timeout_secs);
    let report = run(config).await?;
    print!("{report}");
    if let Some(path) = args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(&path, json + "\n")
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}
