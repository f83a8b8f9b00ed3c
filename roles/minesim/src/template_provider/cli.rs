//! `minesim template-provider`: a template provider from the command line.

use super::{TemplateProvider, TemplateProviderConfig, REGTEST_NBITS};
use std::net::SocketAddr;
use std::time::Duration;

/// Arguments of `minesim template-provider`.
#[derive(Debug, clap::Args)]
pub struct TemplateProviderArgs {
    #[arg(long, default_value = "127.0.0.1:8442")]
    pub listen: SocketAddr,
    /// Authority public key (base58check); defaults to SRI's example key.
    #[arg(long, requires = "secret")]
    pub pubkey: Option<String>,
    /// Authority secret key (base58check).
    #[arg(long, requires = "pubkey")]
    pub secret: Option<String>,
    /// Compact network target, hex with 0x or decimal.
    #[arg(long, value_parser = parse_u32, default_value_t = REGTEST_NBITS)]
    pub nbits: u32,
    /// Offer a new template (same tip, new transactions) every N seconds.
    #[arg(long)]
    pub template_interval_secs: Option<u64>,
    /// Advance the tip on its own every N seconds.
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

/// Serves until Ctrl-C, then prints what it saw.
pub async fn run_cli(args: TemplateProviderArgs) -> anyhow::Result<()> {
    let mut config = TemplateProviderConfig::new(args.listen);
    if let (Some(p), Some(s)) = (args.pubkey, args.secret) {
        config.authority_public = p;
        config.authority_secret = s;
    }
    config.nbits = args.nbits;
    config.template_interval = args.template_interval_secs.map(Duration::from_secs);
    config.block_interval = args.block_interval_secs.map(Duration::from_secs);
    let public = config.authority_public.clone();
    let tp = TemplateProvider::start(config).await?;
    println!(
        "minesim template provider listening on {} (authority {public})",
        tp.local_addr()
    );
    tokio::signal::ctrl_c().await?;
    let stats = tp.stats();
    tp.shutdown().await;
    println!(
        "tip_height={} blocks_found={} invalid_solutions={} stale_solutions={}",
        stats.tip_height(),
        stats.blocks_found_total(),
        stats.invalid_solutions(),
        stats.stale_solutions()
    );
    Ok(())
}
