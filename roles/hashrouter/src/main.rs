//! The `hashrouter` binary: parses the command line and hands over to the library. Errors
//! become `anyhow` only here, at the edge.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hashrouter::config::Config;

#[derive(Parser)]
#[command(
    name = "hashrouter",
    version,
    about = "Stratum V2 node for mining farms"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the node.
    Run {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a config file, and the allocations file it names, and exit (non-zero with the
    /// offending field or allocation entry on error).
    CheckConfig {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Generate an SV2 authority keypair (base58check, the format SRI's configs take); with
    /// `--wallet`, the seller's wallet key for on-chain (Lumerin) allocations instead.
    Keygen {
        /// Wallet key file: created (mode 0600) with a new key if it does not exist, read if it
        /// does (never overwritten). Prints the wallet address and the public key to register.
        #[arg(long, value_name = "FILE")]
        wallet: Option<PathBuf>,
    },
    /// Split a simulated farm between routes in simulated time and report how close each route
    /// came to its allocations (scenarios in test-vectors/split/).
    Simulate {
        #[arg(long)]
        scenario: PathBuf,
    },
    /// Run the node with a simulated pool and miners on 127.0.0.1 and print how work flowed.
    Demo {
        /// Seconds to run.
        #[arg(long, default_value_t = 30)]
        duration: u64,
        /// Number of simulated Stratum V1 miners.
        #[arg(long, default_value_t = 4)]
        devices: usize,
        /// Number of simulated SV2 miners (alternately standard and extended channels).
        #[arg(long, default_value_t = 2)]
        sv2_devices: usize,
        /// The default route declares its own jobs: templates from a simulated template
        /// provider, declared to a simulated JDS, mined through SetCustomMiningJob.
        #[arg(long)]
        jd: bool,
        /// Where the dashboard, API and /metrics listen (port 0 picks a free one; the URL is
        /// printed at start).
        #[arg(long, default_value = "127.0.0.1:0")]
        api: String,
    },
    /// Show a running node's health, routes, allocations, weakest devices and latest events,
    /// read from its HTTP API (the node's config needs an [api] section).
    #[command(after_help = STATUS_EXIT_CODES)]
    Status {
        /// The node's API, e.g. http://127.0.0.1:9100 [default: http://127.0.0.1:9100]
        #[arg(long, value_name = "URL", conflicts_with = "config")]
        api: Option<String>,
        /// Take the API's address from this node config's [api] listen (0.0.0.0 or [::]
        /// mean this machine's loopback).
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
        /// How many devices to list: those with the lowest hashrate, the ones to look at.
        #[arg(long, value_name = "N", default_value_t = 10)]
        devices: usize,
        /// While the node is starting (reading the chain's contracts), show its progress,
        /// refreshed every second, until it has started or --timeout passes.
        #[arg(long)]
        wait: bool,
        /// Longest wait with --wait, in seconds.
        #[arg(long, value_name = "SECS", default_value_t = 600)]
        timeout: u64,
        /// Print the API's documents as one JSON object instead of tables.
        #[arg(long)]
        json: bool,
    },
}

const STATUS_EXIT_CODES: &str = "\
Exit codes:
  0  ok: the node works as configured
  1  degraded: it works, but not as configured (a pool down or on its backup, solo mining,
     a stale chain)
  2  starting (reading the chain's contracts) or down
  3  the API cannot be reached or did not answer as the hashrouter API (check the URL and
     that the node's config has an [api] section)";

fn init_logging(default: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Ctrl-C, or SIGTERM (what service managers send) on Unix.
async fn stop_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Run { config } => {
            init_logging("info");
            let config = Config::load(&config)
                .with_context(|| format!("invalid config {}", config.display()))?;
            let node = hashrouter::node::start(&config).await?;
            stop_signal().await?;
            tracing::info!("shutting down");
            node.shutdown().await;
        }
        Command::CheckConfig { config: path } => {
            let config = Config::load(&path)
                .with_context(|| format!("invalid config {}", path.display()))?;
            // The allocations file is checked too, against the routes this config defines.
            if let Some(allocations) = &config.allocations {
                let file = allocations.file.display();
                let set = allocations
                    .source(config.route_names())
                    .load()
                    .with_context(|| format!("invalid allocations file {file}"))?;
                println!("{file}: {} allocations, ok", set.len());
            }
            // The wallet key too (permissions, format): the node would refuse to start without.
            if let Some(lumerin) = &config.lumerin {
                let source = lumerin.wallet_key();
                let key = source
                    .load()
                    .with_context(|| format!("invalid wallet key ({source})"))?;
                println!("{source}: seller wallet {}, ok", key.address());
            }
            println!("{}: ok", path.display());
        }
        Command::Simulate { scenario } => {
            let report = hashrouter::simulate::run_file(&scenario)
                .with_context(|| format!("invalid scenario {}", scenario.display()))?;
            print!("{}", report.table);
            println!("{}", report.summary_line());
        }
        Command::Keygen { wallet: None } => {
            let keys = sv2_conn::keys::generate();
            println!("authority_public_key = \"{}\"", keys.public_string());
            println!("authority_secret_key = \"{}\"", keys.secret_string());
        }
        Command::Keygen { wallet: Some(path) } => {
            let (key, origin) = hashrouter::chain::wallet_key::load_or_create(&path)?;
            let verb = match origin {
                hashrouter::chain::wallet_key::KeyFileOrigin::Created => "created",
                hashrouter::chain::wallet_key::KeyFileOrigin::Existing => "read",
            };
            println!(
                "# wallet key file {} ({verb}); keep it secret",
                path.display()
            );
            println!("# address: the seller account; fund it and create contracts from it");
            println!("wallet_address = \"{}\"", key.address());
            println!("# public key: pass as pubKey to setCreateNewRentalContractV2; buyers encrypt to it");
            println!("wallet_public_key = \"{}\"", key.public_key_hex());
        }
        Command::Demo {
            duration,
            devices,
            sv2_devices,
            jd,
            api,
        } => {
            init_logging("warn");
            let report = hashrouter::demo::run(hashrouter::demo::DemoOptions {
                duration: std::time::Duration::from_secs(duration),
                devices,
                sv2_devices,
                job_declaration: jd,
                api_listen: api,
            })
            .await?;
            print!("{}", report.table);
            println!(
                "accepted_shares={} devices={}",
                report.accepted_shares, report.devices
            );
            if report.accepted_shares == 0 {
                anyhow::bail!("no share was accepted end to end");
            }
        }
        Command::Status {
            api,
            config,
            devices,
            wait,
            timeout,
            json,
        } => {
            use hashrouter::status;
            let target = match (api, config) {
                (Some(url), _) => status::api_from_url(&url),
                (None, Some(path)) => status::api_from_config(&path),
                (None, None) => Ok(status::DEFAULT_API.to_string()),
            };
            let api = match target {
                Ok(api) => api,
                Err(error) => {
                    eprintln!("hashrouter status: {error}");
                    return Ok(ExitCode::from(status::Verdict::Unreachable.code()));
                }
            };
            let options = status::StatusOptions {
                api,
                devices,
                wait,
                timeout: std::time::Duration::from_secs(timeout),
                json,
                progress_in_place: std::io::stderr().is_terminal(),
            };
            let verdict =
                status::run(&options, &mut std::io::stdout(), &mut std::io::stderr()).await;
            return Ok(ExitCode::from(verdict.code()));
        }
    }
    Ok(ExitCode::SUCCESS)
}
