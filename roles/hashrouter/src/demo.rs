//! `hashrouter demo`: the node between a simulated SV2 pool and simulated miners — Stratum V1
//! devices, and SV2 devices on standard and extended channels through the node's SV2 server —
//! all in this process on 127.0.0.1, then a report of what every device and the pool saw.

use std::fmt::Write;
use std::time::Duration;

use minesim::pool::{InitialTarget, Pool, PoolConfig, TEST_AUTHORITY_PUBLIC};
use minesim::sv2_miner::{spawn_sv2_miner, ChannelKind, Sv2MinerConfig};
use minesim::v1_miner::{spawn_miner, MinerConfig};

use crate::config::Config;
use crate::node;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub duration: Duration,
    /// Stratum V1 miners.
    pub devices: usize,
    /// SV2 miners, alternating a header-only standard channel and an extended channel.
    pub sv2_devices: usize,
}

/// The printed table and the figures the last line reports.
#[derive(Debug, Clone)]
pub struct DemoReport {
    pub table: String,
    /// Shares the pool accepted from the node.
    pub accepted_shares: u64,
    /// Devices connected to the node at the end.
    pub devices: usize,
}

/// Demo miners' hashrate caps (H/s), cycled: heterogeneous like a real farm, small enough for
/// a laptop core.
const MINER_HASHRATES: [f64; 4] = [100_000.0, 200_000.0, 300_000.0, 400_000.0];
const POOL_USER: &str = "demo-farm";

fn demo_config(
    pool: std::net::SocketAddr,
    keys: &sv2_conn::keys::AuthorityKeypair,
) -> Result<Config, crate::config::ConfigError> {
    Config::parse(&format!(
        r#"
[sv1]
listen = "127.0.0.1:0"

[sv2]
listen = "127.0.0.1:0"
authority_public_key = "{public}"
authority_secret_key = "{secret}"

[difficulty]
initial = 0.0001
minimum = 0.000001
shares_per_minute = 30
retarget_secs = 10

[upstream]
address = "{pool}"
authority_pubkey = "{TEST_AUTHORITY_PUBLIC}"
user_identity = "{POOL_USER}"
"#,
        public = keys.public_string(),
        secret = keys.secret_string(),
    ))
}

pub async fn run(options: DemoOptions) -> anyhow::Result<DemoReport> {
    let mut pool_config = PoolConfig::new("127.0.0.1:0".parse()?);
    // A new block every 10 s so the demo shows clean jobs reaching every device; the pool
    // asks for a share about every 2 s from the node's aggregated channel.
    pool_config.block_interval = Some(Duration::from_secs(10));
    pool_config.initial_target = InitialTarget::FixedDifficulty(0.0005);
    pool_config.shares_per_minute = 30.0;
    let pool = Pool::start(pool_config).await?;
    // A fresh authority keypair for this run's SV2 server.
    let keys = sv2_conn::keys::generate();
    let node = node::start(&demo_config(pool.local_addr(), &keys)?).await?;
    let sv2_addr = node
        .sv2_addr()
        .ok_or_else(|| anyhow::anyhow!("the demo node has no SV2 server"))?;

    let miners: Vec<_> = (0..options.devices)
        .map(|i| {
            let mut config = MinerConfig::new(node.sv1_addr(), format!("{POOL_USER}.rig{i}"));
            config.hashrate_cap = MINER_HASHRATES[i % MINER_HASHRATES.len()];
            config.user_agent = format!("minesim/{i}");
            spawn_miner(config)
        })
        .collect();
    let sv2_miners: Vec<_> = (0..options.sv2_devices)
        .map(|i| {
            let mut config = Sv2MinerConfig::new(sv2_addr, format!("{POOL_USER}.sv2-{i}"));
            config.authority = Some(keys.public);
            config.hashrate_cap = MINER_HASHRATES[i % MINER_HASHRATES.len()];
            if i % 2 == 1 {
                config.channel_kind = ChannelKind::Extended {
                    min_extranonce_size: 4,
                };
            } else {
                config.requires_standard_jobs = true;
            }
            spawn_sv2_miner(config)
        })
        .collect();

    let started = tokio::time::Instant::now();
    while started.elapsed() < options.duration {
        let remaining = options.duration.saturating_sub(started.elapsed());
        tokio::time::sleep(Duration::from_secs(5).min(remaining)).await;
        if let Some(snapshot) = node.snapshot().await {
            let c = &snapshot.upstream.counters;
            eprintln!(
                "[{:>3}s] devices={} forwarded={} acknowledged={}",
                started.elapsed().as_secs(),
                snapshot.devices.len(),
                c.forwarded_shares,
                c.acked_shares
            );
        }
    }
    // Let the pool's last batch of acknowledgements arrive.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let snapshot = node
        .snapshot()
        .await
        .ok_or_else(|| anyhow::anyhow!("node stopped during the demo"))?;
    let pool_user = pool.stats().user(POOL_USER).unwrap_or_default();
    let elapsed = started.elapsed().as_secs_f64();

    let mut table = String::new();
    writeln!(
        table,
        "\n{:<10} {:<13} {:<16} {:>10} {:>9} {:>9} {:>10} {:>12}",
        "device", "kind", "worker", "difficulty", "accepted", "rejected", "forwarded", "hashrate"
    )?;
    for d in &snapshot.devices {
        writeln!(
            table,
            "{:<10} {:<13} {:<16} {:>10.6} {:>9} {:>9} {:>10} {:>10.0} kH/s",
            d.id.to_string(),
            d.kind.as_str(),
            d.worker.as_deref().unwrap_or("-"),
            d.difficulty,
            d.counters.accepted,
            d.counters.rejected,
            d.counters.forwarded,
            d.hashrate / 1e3,
        )?;
    }
    let c = &snapshot.upstream.counters;
    writeln!(
        table,
        "\n{:<32} {:>9} {:>9} {:>7} {:>14}",
        "pool", "accepted", "rejected", "blocks", "hashrate"
    )?;
    writeln!(
        table,
        "{:<32} {:>9} {:>9} {:>7} {:>9.0} kH/s",
        format!("{} ({POOL_USER})", pool.local_addr()),
        pool_user.accepted_shares,
        pool_user.rejected_total(),
        pool_user.blocks_found,
        work::work_of_difficulty(pool_user.accepted_work) / elapsed / 1e3,
    )?;
    writeln!(
        table,
        "\nnode: forwarded={} acknowledged={} rejected_by_pool={} unanswered={} upstream_connections={}",
        c.forwarded_shares, c.acked_shares, c.rejected_shares, c.unanswered_shares, c.connections
    )?;

    let devices = snapshot.devices.len();
    for miner in miners {
        miner.shutdown().await;
    }
    for miner in sv2_miners {
        miner.shutdown().await;
    }
    node.shutdown().await;
    pool.shutdown().await;
    Ok(DemoReport {
        table,
        accepted_shares: pool_user.accepted_shares,
        devices,
    })
}
