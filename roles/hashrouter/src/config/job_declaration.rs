//! Job declaration settings: the template provider the node takes block templates from
//! (`[template_provider]`), where solo blocks pay (`[solo]`), and each route's Job Declaration
//! Server (`job_declaration = { .. }` on `[upstream]` and on `[[routes]]` entries).

use std::str::FromStr;

use key_utils::Secp256k1PublicKey;
use serde::Deserialize;

use super::{invalid, validate_host_port, ConfigError};

/// Most bytes of `coinbase_tag`: the coinbase scriptSig may hold 100 bytes, of which the
/// BIP34 height takes up to 8, the tag's push opcode 1, and the extranonce up to 33 (a push
/// opcode and at most 32 bytes).
pub const MAX_COINBASE_TAG: usize = 100 - 8 - 1 - 33;

fn default_coinbase_tag() -> String {
    "hashrouter".to_string()
}

/// `[template_provider]`: where block templates come from (Template Distribution Protocol over
/// Noise, e.g. Bitcoin Core's sv2-tp). Required by job declaration and by solo mining.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateProviderConfig {
    /// `host:port` of the template provider.
    pub address: String,
    /// Its authority public key (base58check); the Noise handshake fails unless the provider's
    /// certificate is signed by it.
    pub authority_pubkey: String,
    /// Template providers tried in order when `address` fails (`host:port`, same key).
    #[serde(default)]
    pub backups: Vec<String>,
    /// Written into the scriptSig of every coinbase the node builds, after the block height
    /// (at most [`MAX_COINBASE_TAG`] bytes; may be empty).
    #[serde(default = "default_coinbase_tag")]
    pub coinbase_tag: String,
}

impl TemplateProviderConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        validate_host_port("template_provider.address", &self.address)?;
        self.authority_key()?;
        for (i, backup) in self.backups.iter().enumerate() {
            let field = format!("template_provider.backups[{i}]");
            validate_host_port(&field, backup)?;
            if *backup == self.address || self.backups[..i].contains(backup) {
                return Err(invalid(field, format!("{backup} is listed twice")));
            }
        }
        if self.coinbase_tag.len() > MAX_COINBASE_TAG {
            return Err(invalid(
                "template_provider.coinbase_tag",
                format!(
                    "is {} bytes; at most {MAX_COINBASE_TAG} fit in the coinbase scriptSig \
                     (100 bytes with the block height and the extranonce)",
                    self.coinbase_tag.len()
                ),
            ));
        }
        Ok(())
    }

    /// The pinned authority key.
    pub fn authority_key(&self) -> Result<Secp256k1PublicKey, ConfigError> {
        parse_key("template_provider.authority_pubkey", &self.authority_pubkey)
    }

    /// The primary, then the backups.
    pub fn endpoints(&self) -> Vec<String> {
        std::iter::once(self.address.clone())
            .chain(self.backups.iter().cloned())
            .collect()
    }
}

/// The bitcoin network a payout address must belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BitcoinNetwork {
    Bitcoin,
    Testnet,
    Testnet4,
    Signet,
    Regtest,
}

impl BitcoinNetwork {
    fn network(self) -> bitcoin::Network {
        match self {
            BitcoinNetwork::Bitcoin => bitcoin::Network::Bitcoin,
            BitcoinNetwork::Testnet => bitcoin::Network::Testnet,
            BitcoinNetwork::Testnet4 => bitcoin::Network::Testnet4,
            BitcoinNetwork::Signet => bitcoin::Network::Signet,
            BitcoinNetwork::Regtest => bitcoin::Network::Regtest,
        }
    }
}

/// `[solo]`: when every pool is down the node mines blocks on its own templates, paying here.
/// Exactly one of `payout_address` (with `network`) and `payout_script`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoloConfig {
    /// The network `payout_address` must belong to: bitcoin, testnet, testnet4, signet or
    /// regtest.
    #[serde(default)]
    pub network: Option<BitcoinNetwork>,
    /// A bitcoin address (base58 or bech32/bech32m).
    #[serde(default)]
    pub payout_address: Option<String>,
    /// A raw scriptPubKey in hex, for outputs no address describes.
    #[serde(default)]
    pub payout_script: Option<String>,
}

/// Longest accepted `payout_script` (a standard output script is at most 34 bytes; bare
/// multisig and the like stay far below this).
const MAX_PAYOUT_SCRIPT: usize = 520;

impl SoloConfig {
    /// The scriptPubKey solo blocks pay to.
    pub fn payout_script(&self) -> Result<Vec<u8>, ConfigError> {
        match (&self.payout_address, &self.payout_script) {
            (Some(_), Some(_)) => Err(invalid(
                "solo.payout_script",
                "give either solo.payout_address or solo.payout_script, not both",
            )),
            (None, None) => Err(invalid(
                "solo.payout_address",
                "required (or solo.payout_script): where solo blocks pay",
            )),
            (Some(address), None) => {
                let Some(network) = self.network else {
                    return Err(invalid(
                        "solo.network",
                        "required with solo.payout_address (bitcoin, testnet, testnet4, signet \
                         or regtest)",
                    ));
                };
                let unchecked = bitcoin::Address::from_str(address).map_err(|e| {
                    invalid(
                        "solo.payout_address",
                        format!("`{address}` is not a bitcoin address ({e})"),
                    )
                })?;
                let checked = unchecked.require_network(network.network()).map_err(|_| {
                    invalid(
                        "solo.payout_address",
                        format!(
                            "`{address}` is not an address of solo.network = {}",
                            network.network()
                        ),
                    )
                })?;
                Ok(checked.script_pubkey().into_bytes())
            }
            (None, Some(script)) => {
                if self.network.is_some() {
                    return Err(invalid(
                        "solo.network",
                        "only checks solo.payout_address; remove it with solo.payout_script",
                    ));
                }
                let bytes = hex::decode(script)
                    .map_err(|e| invalid("solo.payout_script", format!("not hex ({e})")))?;
                if bytes.is_empty() || bytes.len() > MAX_PAYOUT_SCRIPT {
                    return Err(invalid(
                        "solo.payout_script",
                        format!("must be 1 to {MAX_PAYOUT_SCRIPT} bytes"),
                    ));
                }
                Ok(bytes)
            }
        }
    }
}

/// `job_declaration = { address, authority_pubkey }` on an SV2 route: the route declares jobs
/// built from the node's templates to this Job Declaration Server and mines them on its
/// channel (falling back to the pool's jobs while the JDS does not answer).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobDeclarationConfig {
    /// `host:port` of the pool's Job Declaration Server.
    pub address: String,
    /// Its authority public key (base58check).
    pub authority_pubkey: String,
}

/// A validated `job_declaration` of a route.
#[derive(Debug, Clone)]
pub struct JobDeclaration {
    pub address: String,
    pub authority: Secp256k1PublicKey,
    /// The config key of `authority`, for errors at run time.
    pub authority_field: String,
}

impl JobDeclarationConfig {
    /// `prefix` is the route's section, e.g. `upstream` or `routes[1]`.
    pub(super) fn validate(&self, prefix: &str) -> Result<JobDeclaration, ConfigError> {
        let field = |key: &str| format!("{prefix}.job_declaration.{key}");
        validate_host_port(&field("address"), &self.address)?;
        let authority_field = field("authority_pubkey");
        let authority = parse_key(&authority_field, &self.authority_pubkey)?;
        Ok(JobDeclaration {
            address: self.address.clone(),
            authority,
            authority_field,
        })
    }
}

fn parse_key(field: &str, key: &str) -> Result<Secp256k1PublicKey, ConfigError> {
    key.parse::<Secp256k1PublicKey>().map_err(|e| {
        invalid(
            field,
            format!("not a base58check secp256k1 public key ({e:?})"),
        )
    })
}
