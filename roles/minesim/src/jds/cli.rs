//! `minesim jds`: a Job Declaration Server from the command line.

use super::{Jds, JdsConfig};
use bitcoin::{Amount, ScriptBuf, TxOut};
use std::net::SocketAddr;

/// Arguments of `minesim jds`.
#[derive(Debug, clap::Args)]
pub struct JdsArgs {
    #[arg(long, default_value = "127.0.0.1:34264")]
    pub listen: SocketAddr,
    /// Authority public key (base58check); defaults to SRI's example key.
    #[arg(long, requires = "secret")]
    pub pubkey: Option<String>,
    /// Authority secret key (base58check).
    #[arg(long, requires = "pubkey")]
    pub secret: Option<String>,
    /// A scriptPubKey (hex) every declared coinbase must pay; repeat for several. Defaults to
    /// the minesim pool's payout script.
    #[arg(long = "coinbase-script-pubkey", value_parser = parse_hex)]
    pub coinbase_script_pubkeys: Vec<Vec<u8>>,
    /// Seconds a declaration waits for its missing transactions.
    #[arg(long, default_value_t = 10)]
    pub missing_txs_timeout_secs: u64,
}

fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    hex::decode(s).map_err(|e| e.to_string())
}

/// Serves until Ctrl-C, then prints what it saw.
pub async fn run_cli(args: JdsArgs) -> anyhow::Result<()> {
    let mut config = JdsConfig::new(args.listen);
    if let (Some(p), Some(s)) = (args.pubkey, args.secret) {
        config.authority_public = p;
        config.authority_secret = s;
    }
    if !args.coinbase_script_pubkeys.is_empty() {
        config.coinbase_outputs = args
            .coinbase_script_pubkeys
            .into_iter()
            .map(|script| TxOut {
                value: Amount::ZERO,
                script_pubkey: ScriptBuf::from_bytes(script),
            })
            .collect();
    }
    config.missing_txs_timeout = std::time::Duration::from_secs(args.missing_txs_timeout_secs);
    let public = config.authority_public.clone();
    let jds = Jds::start(config).await?;
    println!(
        "minesim jds listening on {} (authority {public})",
        jds.local_addr()
    );
    tokio::signal::ctrl_c().await?;
    let stats = jds.stats();
    jds.shutdown().await;
    println!(
        "tokens_allocated={} jobs_declared={} declarations_refused={} missing_tx_requests={} solutions_pushed={}",
        stats.tokens_allocated(),
        stats.jobs_declared(),
        stats.declarations_refused(),
        stats.missing_tx_requests(),
        stats.solutions_pushed()
    );
    Ok(())
}
