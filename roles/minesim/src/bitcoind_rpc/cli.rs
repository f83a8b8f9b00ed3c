//! `minesim bitcoind-rpc`: the bitcoind JSON-RPC shim from the command line.

use std::net::SocketAddr;
use std::time::Duration;

use super::{BitcoindRpc, BitcoindRpcConfig, RpcAuth};

/// Arguments of `minesim bitcoind-rpc`.
#[derive(Debug, clap::Args)]
pub struct BitcoindRpcArgs {
    #[arg(long, default_value = "127.0.0.1:18443")]
    pub listen: SocketAddr,
    /// Required RPC user (with `--rpc-password`); any credentials are accepted without it.
    #[arg(long, requires = "rpc_password")]
    pub rpc_user: Option<String>,
    #[arg(long, requires = "rpc_user")]
    pub rpc_password: Option<String>,
    /// Compact network target, hex with 0x or decimal.
    #[arg(long, value_parser = parse_u32)]
    pub nbits: Option<u32>,
    /// Advance the synthetic chain every N seconds (default: only on accepted blocks).
    #[arg(long)]
    pub block_interval_secs: Option<u64>,
}

fn parse_u32(s: &str) -> Result<u32, String> {
    match s.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).map_err(|e| e.to_string()),
        None => s
            .parse()
            .map_err(|e: std::num::ParseIntError| e.to_string()),
    }
}

/// Serves until Ctrl-C, then prints the calls it answered.
pub async fn run_cli(args: BitcoindRpcArgs) -> anyhow::Result<()> {
    let mut config = BitcoindRpcConfig::new(args.listen);
    if let Some(nbits) = args.nbits {
        config.nbits = nbits;
    }
    config.block_interval = args.block_interval_secs.map(Duration::from_secs);
    if let (Some(user), Some(password)) = (args.rpc_user, args.rpc_password) {
        config.auth = Some(RpcAuth { user, password });
    }
    let rpc = BitcoindRpc::start(config).await?;
    println!(
        "minesim bitcoind RPC shim listening on {}",
        rpc.local_addr()
    );
    tokio::signal::ctrl_c().await?;
    let stats = rpc.stats();
    rpc.shutdown().await;
    for (method, n) in stats.calls() {
        println!("method={method} calls={n}");
    }
    println!(
        "tip_height={} accepted_blocks={} rejected_blocks={:?}",
        stats.tip_height(),
        stats.accepted_blocks(),
        stats.rejected_blocks()
    );
    Ok(())
}
