//! `minesim`: simulated mining peers. A thin dispatcher over the library.

use clap::{Parser, Subcommand};
use minesim::pool::{Pool, PoolConfig};
use std::net::SocketAddr;
use std::time::Duration;

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
    /// An SV2 CPU miner over Noise (standard or extended channels, real sha256d).
    Sv2Miner(minesim::sv2_miner::Sv2MinerArgs),
    /// An SV2 template provider (Template Distribution Protocol over Noise) on a synthetic chain.
    TemplateProvider(minesim::template_provider::TemplateProviderArgs),
    /// An SV2 Job Declaration Server over Noise (full-template mode).
    Jds(minesim::jds::JdsArgs),
    /// A bitcoind JSON-RPC stand-in (block templates, submitblock) on a synthetic chain.
    BitcoindRpc(minesim::bitcoind_rpc::BitcoindRpcArgs),
    /// A Stratum V1 pool with a synthetic chain.
    V1Pool(minesim::v1_pool::V1PoolArgs),
    /// An SV2 pool over Noise with a synthetic chain.
    Pool {
        #[arg(long, default_value = "127.0.0.1:34254")]
        listen: SocketAddr,
        /// Authority public key (base58check); defaults to SRI's test key.
        #[arg(long, requires = "secret")]
        pubkey: Option<String>,
        /// Authority secret key (base58check).
        #[arg(long, requires = "pubkey")]
        secret: Option<String>,
        /// Advance the synthetic chain every N seconds (default: only on found blocks).
        #[arg(long)]
        block_interval_secs: Option<u64>,
        /// Compact network target (e.g. 0x207fffff for regtest-easy blocks).
        #[arg(long, value_parser = parse_u32)]
        nbits: Option<u32>,
        /// Take custom jobs (`REQUIRES_WORK_SELECTION`, `SetCustomMiningJob`) with any token.
        #[arg(long)]
        accept_custom_jobs: bool,
        /// Serve the control port here (`new-block` advances the chain; for `minesim load`).
        #[arg(long)]
        control: Option<SocketAddr>,
        /// Every channel's difficulty (difficulty 1 = 2^32 hashes), instead of one derived from
        /// the requested hashrate.
        #[arg(long)]
        fixed_difficulty: Option<f64>,
        /// Keep every channel's first target (no vardiff).
        #[arg(long)]
        no_vardiff: bool,
    },
    /// Load generator: many Stratum V1 connections submitting real shares to a proxy,
    /// measuring share latency, new-prevhash fan-out and the proxy's CPU and memory.
    Load(minesim::load::LoadArgs),
}

fn parse_u32(s: &str) -> Result<u32, String> {
    match s.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).map_err(|e| e.to_string()),
        None => s
            .parse()
            .map_err(|e: std::num::ParseIntError| e.to_string()),
    }
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
        Command::V1Miner(args) => minesim::v1_miner::run_cli(args).await?,
        Command::Sv2Miner(args) => minesim::sv2_miner::run_cli(args).await?,
        Command::TemplateProvider(args) => minesim::template_provider::run_cli(args).await?,
        Command::Jds(args) => minesim::jds::run_cli(args).await?,
        Command::V1Pool(args) => minesim::v1_pool::run_cli(args).await?,
        Command::BitcoindRpc(args) => minesim::bitcoind_rpc::run_cli(args).await?,
        Command::Load(args) => minesim::load::run_cli(args).await?,
        Command::Pool {
            listen,
            pubkey,
            secret,
            block_interval_secs,
            nbits,
            accept_custom_jobs,
            control,
            fixed_difficulty,
            no_vardiff,
        } => {
            let mut config = PoolConfig::new(listen);
            if let (Some(p), Some(s)) = (pubkey, secret) {
                config.authority_public = p;
                config.authority_secret = s;
            }
            config.block_interval = block_interval_secs.map(Duration::from_secs);
            if let Some(n) = nbits {
                config.nbits = n;
            }
            if accept_custom_jobs {
                config.custom_jobs = minesim::pool::CustomJobs::AcceptAnyToken;
            }
            if let Some(d) = fixed_difficulty {
                anyhow::ensure!(
                    d.is_finite() && d > 0.0,
                    "--fixed-difficulty must be a positive number"
                );
                config.initial_target = minesim::pool::InitialTarget::FixedDifficulty(d);
            }
            config.vardiff = !no_vardiff;
            let control = match control {
                Some(addr) => {
                    let listener = tokio::net::TcpListener::bind(addr)
                        .await
                        .map_err(|e| anyhow::anyhow!("cannot listen on --control {addr}: {e}"))?;
                    let trigger = std::sync::Arc::new(tokio::sync::Notify::new());
                    config.block_trigger = Some(trigger.clone());
                    Some((listener.local_addr()?, listener, trigger))
                }
                None => None,
            };
            let public = config.authority_public.clone();
            let pool = Pool::start(config).await?;
            println!(
                "minesim pool listening on {} (authority {public})",
                pool.local_addr()
            );
            if let Some((addr, listener, trigger)) = control {
                println!("minesim pool control on {addr}");
                tokio::spawn(minesim::pool::control::serve(listener, trigger));
            }
            tokio::signal::ctrl_c().await?;
            pool.shutdown().await;
        }
    }
    Ok(())
}
