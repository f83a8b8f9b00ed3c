//! `minesim v1-pool`: a Stratum V1 pool from the command line.

use std::net::SocketAddr;
use std::time::Duration;

use super::{V1Pool, V1PoolConfig, V1Vardiff};

/// Arguments of `minesim v1-pool`.
#[derive(Debug, clap::Args)]
pub struct V1PoolArgs {
    #[arg(long, default_value = "127.0.0.1:3334")]
    pub listen: SocketAddr,
    /// Share difficulty (fixed, or vardiff's starting point).
    #[arg(long, default_value_t = 0.0001)]
    pub difficulty: f64,
    /// Turn vardiff on, steering each connection to this many shares per minute.
    #[arg(long)]
    pub vardiff_shares_per_minute: Option<f64>,
    #[arg(long, default_value_t = 4)]
    pub extranonce1_size: usize,
    #[arg(long, default_value_t = 8)]
    pub extranonce2_size: usize,
    /// Compact network target, hex with 0x or decimal.
    #[arg(long, value_parser = parse_u32)]
    pub nbits: Option<u32>,
    /// Advance the synthetic chain every N seconds (default: only on found blocks).
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

/// Serves until Ctrl-C, then prints each worker's counters.
pub async fn run_cli(args: V1PoolArgs) -> anyhow::Result<()> {
    let mut config = V1PoolConfig::new(args.listen);
    config.difficulty = args.difficulty;
    config.extranonce1_size = args.extranonce1_size;
    config.extranonce2_size = args.extranonce2_size;
    config.block_interval = args.block_interval_secs.map(Duration::from_secs);
    if let Some(nbits) = args.nbits {
        config.nbits = nbits;
    }
    config.vardiff = args.vardiff_shares_per_minute.map(|spm| V1Vardiff {
        shares_per_minute: spm,
        retarget: Duration::from_secs(30),
        min_difficulty: args.difficulty / 1024.0,
        max_difficulty: args.difficulty * 1_048_576.0,
    });
    let pool = V1Pool::start(config).await?;
    println!("minesim V1 pool listening on {}", pool.local_addr());
    tokio::signal::ctrl_c().await?;
    let stats = pool.stats();
    pool.shutdown().await;
    let mut users: Vec<_> = stats.users().into_iter().collect();
    users.sort_by(|a, b| a.0.cmp(&b.0));
    for (user, u) in users {
        println!(
            "user={user} accepted={} work={} rejected={} blocks={}",
            u.accepted_shares,
            u.accepted_work,
            u.rejected_total(),
            u.blocks_found
        );
    }
    println!(
        "tip_height={} blocks_found={}",
        stats.tip_height(),
        stats.blocks_found()
    );
    Ok(())
}
