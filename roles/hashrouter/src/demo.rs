//! `hashrouter demo`: the node between three simulated pools (the seller's SV2 pool, a buyer's
//! SV2 pool and a buyer's Stratum V1 pool, with allocations of 40% and 25% of the farm) and simulated miners — Stratum V1 devices, and
//! SV2 devices on standard and extended channels through the node's SV2 server — all in this
//! process on 127.0.0.1, then a report of what every device, route and pool saw.

use std::fmt::Write;
use std::time::Duration;

use minesim::jds::{Jds, JdsConfig, JdsHandle};
use minesim::pool::{CustomJobs, InitialTarget, Pool, PoolConfig, TEST_AUTHORITY_PUBLIC};
use minesim::sv2_miner::{spawn_sv2_miner, ChannelKind, Sv2MinerConfig};
use minesim::template_provider::{
    TemplateProvider, TemplateProviderConfig, TemplateProviderHandle,
};
use minesim::v1_miner::{spawn_miner, MinerConfig};
use minesim::v1_pool::{V1Pool, V1PoolConfig};

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
    /// The default route declares its own jobs (templates from a simulated template provider,
    /// declared to a simulated JDS, mined through SetCustomMiningJob on the seller's pool).
    pub job_declaration: bool,
    /// Where the API, `/metrics` and the dashboard listen (`IP:port`; port 0 picks one).
    pub api_listen: String,
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
/// The routes: the seller's pool, and two buyers with allocations of 40% and 25% of the farm.
const ROUTES: [(&str, Option<f64>); 3] = [
    ("default", None),
    ("buyer-a", Some(0.40)),
    ("buyer-b", Some(0.25)),
];

/// A network target the demo farm meets every few seconds (difficulty 2^-12), so `--jd` shows
/// blocks going to the template provider.
const DEMO_NBITS: u32 = 0x1e0f_ffff;

/// The simulated template provider and JDS of `--jd`.
struct JobDeclarationPeers {
    tp: TemplateProviderHandle,
    jds: JdsHandle,
}

/// The `[upstream]` key and `[template_provider]` section that turn job declaration on.
fn job_declaration_config(peers: &JobDeclarationPeers) -> (String, String) {
    (
        format!(
            "job_declaration = {{ address = \"{}\", authority_pubkey = \"{TEST_AUTHORITY_PUBLIC}\" }}\n",
            peers.jds.local_addr()
        ),
        format!(
            "\n[template_provider]\naddress = \"{}\"\nauthority_pubkey = \"{TEST_AUTHORITY_PUBLIC}\"\n",
            peers.tp.local_addr()
        ),
    )
}

fn demo_config(
    pools: &[std::net::SocketAddr],
    keys: &sv2_conn::keys::AuthorityKeypair,
    job_declaration: Option<&JobDeclarationPeers>,
    api_listen: &str,
) -> String {
    let (upstream_jd, template_provider) = job_declaration
        .map(job_declaration_config)
        .unwrap_or_default();
    let mut text = format!(
        r#"
[sv1]
listen = "127.0.0.1:0"

[sv2]
listen = "127.0.0.1:0"
authority_public_key = "{public}"
authority_secret_key = "{secret}"
max_extranonce_size = 4

[difficulty]
initial = 0.0001
minimum = 0.000001
shares_per_minute = 30
retarget_secs = 10

[upstream]
address = "{pool}"
authority_pubkey = "{TEST_AUTHORITY_PUBLIC}"
user_identity = "{POOL_USER}"
{upstream_jd}
[allocations]
file = "allocations.toml"

[api]
listen = "{api_listen}"

# A short demo: devices are vetted and moved within seconds.
[split]
min_dwell_secs = 3
catch_up_horizon_secs = 15
vetting_shares = 3
vetting_secs = 3
estimate_half_life_secs = 30
rebalance_secs = 1
"#,
        public = keys.public_string(),
        secret = keys.secret_string(),
        pool = pools[0],
    );
    text.push_str(&template_provider);
    for ((name, _), pool) in ROUTES.iter().zip(pools).skip(1) {
        if *name == V1_ROUTE {
            text.push_str(&format!(
                "\n[[routes]]\nname = \"{name}\"\nurl = \"stratum+tcp://{pool}\"\nuser_identity = \"{name}\"\n"
            ));
        } else {
            text.push_str(&format!(
                "\n[[routes]]\nname = \"{name}\"\nurl = \"sv2+tcp://{pool}\"\nauthority_pubkey = \"{TEST_AUTHORITY_PUBLIC}\"\nuser_identity = \"{name}\"\n"
            ));
        }
    }
    text
}

fn allocations_file() -> String {
    ROUTES
        .iter()
        .filter_map(|(name, fraction)| {
            fraction.map(|f| {
                format!("[[allocation]]\nid = \"{name}\"\nroute = \"{name}\"\nfraction = {f}\n\n")
            })
        })
        .collect()
}

/// The route whose pool speaks Stratum V1.
const V1_ROUTE: &str = "buyer-b";

/// The user a route's pool sees.
fn pool_user(route: &str) -> &str {
    if route == "default" {
        POOL_USER
    } else {
        route
    }
}

pub async fn run(options: DemoOptions) -> anyhow::Result<DemoReport> {
    let job_declaration = if options.job_declaration {
        let mut tp_config = TemplateProviderConfig::new("127.0.0.1:0".parse()?);
        tp_config.nbits = DEMO_NBITS;
        tp_config.block_interval = Some(Duration::from_secs(10));
        let tp = TemplateProvider::start(tp_config).await?;
        let jds = Jds::start(JdsConfig::new("127.0.0.1:0".parse()?)).await?;
        Some(JobDeclarationPeers { tp, jds })
    } else {
        None
    };
    let mut pools = Vec::new();
    let mut v1_pool = None;
    let mut addresses = Vec::new();
    for (name, _) in ROUTES {
        if name == V1_ROUTE {
            // Its extranonce2 (8 bytes) holds the node's 4-byte device id and each device's
            // 4 bytes (sv1.extranonce2_size, sv2.max_extranonce_size).
            let mut config = V1PoolConfig::new("127.0.0.1:0".parse()?);
            config.extranonce2_size = 8;
            config.difficulty = 0.0005;
            config.block_interval = Some(Duration::from_secs(10));
            let pool = V1Pool::start(config).await?;
            addresses.push(pool.local_addr());
            v1_pool = Some(pool);
            continue;
        }
        let mut pool_config = PoolConfig::new("127.0.0.1:0".parse()?);
        // A new block every 10 s so the demo shows clean jobs reaching every device; the pool
        // asks for a share about every 2 s from the node's aggregated channel.
        pool_config.block_interval = Some(Duration::from_secs(10));
        if let (Some(peers), "default") = (&job_declaration, name) {
            // The seller's pool takes the jobs its JDS declared and mines the template
            // provider's chain, as a pool and its JDS follow the same network.
            pool_config.custom_jobs = CustomJobs::Registry(peers.jds.declared_jobs());
            pool_config.follow_chain = Some(peers.tp.chain());
            pool_config.block_interval = None;
        }
        pool_config.initial_target = InitialTarget::FixedDifficulty(0.0005);
        pool_config.shares_per_minute = 30.0;
        let pool = Pool::start(pool_config).await?;
        addresses.push(pool.local_addr());
        pools.push((name, pool));
    }
    // A fresh authority keypair for this run's SV2 server, and the config in a scratch folder.
    let keys = sv2_conn::keys::generate();
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("allocations.toml"), allocations_file())?;
    let config_path = dir.path().join("hashrouter.toml");
    std::fs::write(
        &config_path,
        demo_config(
            &addresses,
            &keys,
            job_declaration.as_ref(),
            &options.api_listen,
        ),
    )?;
    let node = node::start(&Config::load(&config_path)?).await?;
    let sv2_addr = node
        .sv2_addr()
        .ok_or_else(|| anyhow::anyhow!("the demo node has no SV2 server"))?;
    if let Some(api) = node.api_addr() {
        // On stderr at once: scripts (the browser test) wait for this line.
        eprintln!(
            "dashboard: http://{api}/  (API http://{api}/api/v1/, metrics http://{api}/metrics)"
        );
    }

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
            let routes: Vec<String> = snapshot
                .routes
                .iter()
                .map(|r| format!("{}={}", r.name, r.devices))
                .collect();
            eprintln!(
                "[{:>3}s] devices={} on routes: {}",
                started.elapsed().as_secs(),
                snapshot.devices.len(),
                routes.join(" ")
            );
        }
    }
    // Let the pools' last batches of acknowledgements arrive.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let snapshot = node
        .snapshot()
        .await
        .ok_or_else(|| anyhow::anyhow!("node stopped during the demo"))?;
    let elapsed = started.elapsed().as_secs_f64();

    let mut table = String::new();
    writeln!(
        table,
        "\n{:<10} {:<13} {:<16} {:<8} {:>10} {:>9} {:>9} {:>10} {:>12}",
        "device",
        "kind",
        "worker",
        "route",
        "difficulty",
        "accepted",
        "rejected",
        "forwarded",
        "hashrate"
    )?;
    for d in &snapshot.devices {
        let route = snapshot
            .routes
            .get(d.route.0 as usize)
            .map_or("?", |r| r.name.as_str());
        writeln!(
            table,
            "{:<10} {:<13} {:<16} {:<8} {:>10.6} {:>9} {:>9} {:>10} {:>10.0} kH/s",
            d.id.to_string(),
            d.kind.as_str(),
            d.worker.as_deref().unwrap_or("-"),
            route,
            d.difficulty,
            d.counters.accepted,
            d.counters.rejected,
            d.counters.forwarded,
            d.hashrate / 1e3,
        )?;
    }
    let total_delivered: f64 = snapshot.routes.iter().map(|r| r.delivered).sum();
    writeln!(
        table,
        "\n{:<8} {:>9} {:>11} {:>11} {:>9} {:>8} {:>13} {:>13}",
        "route",
        "allocated",
        "target",
        "delivered",
        "of farm",
        "devices",
        "pool accepted",
        "pool hashrate"
    )?;
    let mut accepted_shares = 0;
    for (route, (_, fraction)) in snapshot.routes.iter().zip(ROUTES) {
        let user = if route.name == V1_ROUTE {
            v1_pool
                .as_ref()
                .and_then(|p| p.stats().user(pool_user(&route.name)))
        } else {
            pools
                .iter()
                .find(|(name, _)| *name == route.name)
                .and_then(|(_, p)| p.stats().user(pool_user(&route.name)))
        }
        .unwrap_or_default();
        accepted_shares += user.accepted_shares;
        writeln!(
            table,
            "{:<8} {:>9} {:>6.0} kH/s {:>6.0} kH/s {:>8.1}% {:>8} {:>13} {:>8.0} kH/s",
            route.name,
            fraction.map_or("rest".to_string(), |f| format!("{:.0}%", f * 100.0)),
            route.target / 1e3,
            route.delivered / elapsed / 1e3,
            100.0 * route.delivered / total_delivered.max(1.0),
            route.devices,
            user.accepted_shares,
            work::work_of_difficulty(user.accepted_work) / elapsed / 1e3,
        )?;
    }
    let forwarded: u64 = snapshot
        .routes
        .iter()
        .map(|r| r.upstream.counters.forwarded_shares)
        .sum();
    let acked: u64 = snapshot
        .routes
        .iter()
        .map(|r| r.upstream.counters.acked_shares)
        .sum();
    writeln!(
        table,
        "\nnode: forwarded={forwarded} acknowledged={acked} (delivered is work the node measured from shares; the first seconds go to the default route while devices are vetted)"
    )?;

    if let Some(peers) = &job_declaration {
        let route = &snapshot.routes[0];
        let (declared, fallbacks, state) = route
            .job_declaration
            .as_ref()
            .map_or((0, 0, String::from("-")), |j| {
                (j.declared, j.fallbacks, format!("{:?}", j.state))
            });
        let jds = peers.jds.stats();
        let seller_pool = pools
            .iter()
            .find(|(name, _)| *name == "default")
            .map(|(_, p)| p.stats());
        writeln!(
            table,
            "job declaration (route default): jobs from {}, {declared} declared jobs mined ({} declared to the JDS, {} refused), {fallbacks} fallbacks to pool jobs, state {state}; the pool accepted {} shares on declared jobs",
            route.jobs_from,
            jds.jobs_declared(),
            jds.declarations_refused(),
            seller_pool.map_or(0, |s| s.custom_job_shares()),
        )?;
        writeln!(
            table,
            "blocks: {} found by the farm on its routes; {} reached the template provider, {} pushed to the JDS; template provider at height {}",
            snapshot.routes.iter().map(|r| r.upstream.counters.blocks).sum::<u64>(),
            peers.tp.stats().blocks_found_total(),
            jds.solutions_pushed(),
            peers.tp.stats().tip_height(),
        )?;
    }

    let devices = snapshot.devices.len();
    for miner in miners {
        miner.shutdown().await;
    }
    for miner in sv2_miners {
        miner.shutdown().await;
    }
    node.shutdown().await;
    for (_, pool) in pools {
        pool.shutdown().await;
    }
    if let Some(pool) = v1_pool {
        pool.shutdown().await;
    }
    if let Some(peers) = job_declaration {
        peers.jds.shutdown().await;
        peers.tp.shutdown().await;
    }
    Ok(DemoReport {
        table,
        accepted_shares,
        devices,
    })
}
