//! Where a contract's hashrate goes: the decrypted destination URL of a Lumerin contract.
//!
//! Buyers write `stratum+tcp://user:pass@host:port` (a V1 pool or a Lumerin validator). The
//! node also takes `sv2+tcp://user@host:port/<authority public key>` for SV2 pools. Following
//! Lumerin's validator convention, a V1 destination is authorized with the contract's address as
//! the worker name (the password is kept) and the address is announced in `mining.configure`
//! as `lmr.contract-address`, so a validator can tell which contract the hashrate delivers.

use std::fmt;

use key_utils::Secp256k1PublicKey;

/// Longest destination accepted; anything longer is not a pool URL.
const MAX_URL_LEN: usize = 1024;

/// Why a decrypted destination cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    #[error("destination longer than {MAX_URL_LEN} bytes")]
    TooLong,
    #[error("destination is not a URL (expected scheme://[user[:password]@]host:port)")]
    NotAUrl,
    #[error("unsupported scheme `{0}` (expected stratum+tcp or sv2+tcp)")]
    Scheme(String),
    #[error("bad host:port: {0}")]
    Address(String),
    #[error("an sv2+tcp destination needs the pool's authority public key as its path")]
    MissingAuthority,
    #[error("bad authority public key: {0}")]
    Authority(String),
    #[error("bad percent-encoding in the user or password")]
    Encoding,
}

/// The protocol a destination's pool speaks.
#[derive(Debug, Clone)]
pub enum DestinationPool {
    /// Stratum V1 (a buyer's pool or a Lumerin validator).
    Stratum { password: Option<String> },
    /// Stratum V2 over Noise with the pool's pinned authority key.
    Sv2 { authority: Secp256k1PublicKey },
}

/// A parsed destination, ready to become a route's upstream.
#[derive(Clone, PartialEq)]
pub struct Destination {
    pub pool: DestinationPool,
    /// `host:port`, ready for `TcpStream::connect`.
    pub address: String,
    /// The user in the URL (V1 routes authorize as the contract instead, see the module docs).
    pub user: String,
}

impl Destination {
    /// Parses a decrypted destination.
    pub fn parse(text: &str) -> Result<Destination, DestinationError> {
        let text = text.trim();
        if text.len() > MAX_URL_LEN {
            return Err(DestinationError::TooLong);
        }
        let (scheme, rest) = text.split_once("://").ok_or(DestinationError::NotAUrl)?;
        let (authority_part, path) = match rest.split_once('/') {
            Some((head, path)) => (head, path),
            None => (rest, ""),
        };
        let (userinfo, address) = match authority_part.rsplit_once('@') {
            Some((userinfo, address)) => (userinfo, address),
            None => ("", authority_part),
        };
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (percent_decode(user)?, Some(percent_decode(password)?)),
            None => (percent_decode(userinfo)?, None),
        };
        crate::config::validate_host_port("destination", address)
            .map_err(|e| DestinationError::Address(e.to_string()))?;
        let pool = match scheme.to_ascii_lowercase().as_str() {
            "stratum+tcp" => DestinationPool::Stratum { password },
            "sv2+tcp" => {
                let key = path.trim_end_matches('/');
                if key.is_empty() {
                    return Err(DestinationError::MissingAuthority);
                }
                let authority = key
                    .parse::<Secp256k1PublicKey>()
                    .map_err(|e| DestinationError::Authority(format!("{e:?}")))?;
                DestinationPool::Sv2 { authority }
            }
            other => return Err(DestinationError::Scheme(other.to_string())),
        };
        Ok(Destination {
            pool,
            address: address.to_string(),
            user,
        })
    }

    /// The URL without its password, for logs and status.
    pub fn redacted(&self) -> String {
        match &self.pool {
            DestinationPool::Stratum { .. } => {
                format!("stratum+tcp://{}@{}", self.user, self.address)
            }
            DestinationPool::Sv2 { .. } => format!("sv2+tcp://{}@{}", self.user, self.address),
        }
    }
}

impl PartialEq for DestinationPool {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Stratum { password: a }, Self::Stratum { password: b }) => a == b,
            // The key type has no equality; its encoding is unique.
            (Self::Sv2 { authority: a }, Self::Sv2 { authority: b }) => {
                a.to_string() == b.to_string()
            }
            _ => false,
        }
    }
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// `%XX` escapes decoded, as Go's URL parser (Lumerin's) does for user info.
fn percent_decode(text: &str) -> Result<String, DestinationError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(DestinationError::Encoding)?;
            let hex = std::str::from_utf8(hex).map_err(|_| DestinationError::Encoding)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| DestinationError::Encoding)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| DestinationError::Encoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_destinations() {
        let d = Destination::parse("stratum+tcp://buyer.rig1:s3cret@127.0.0.1:3333").unwrap();
        assert_eq!(d.address, "127.0.0.1:3333");
        assert_eq!(d.user, "buyer.rig1");
        assert_eq!(
            d.pool,
            DestinationPool::Stratum {
                password: Some("s3cret".into())
            }
        );
        assert!(!format!("{d:?}").contains("s3cret"));
        assert!(!d.redacted().contains("s3cret"));

        // Lightning addresses as users, a trailing slash, no password.
        let d = Destination::parse("stratum+tcp://me%40getalby.com@pool.example:3333/").unwrap();
        assert_eq!(d.user, "me@getalby.com");
        assert_eq!(d.pool, DestinationPool::Stratum { password: None });
        let d = Destination::parse("STRATUM+TCP://[::1]:3333").unwrap();
        assert_eq!(d.address, "[::1]:3333");
        assert_eq!(d.user, "");
    }

    #[test]
    fn sv2_destinations_need_the_authority_key() {
        let key = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72";
        let d = Destination::parse(&format!("sv2+tcp://buyer@127.0.0.1:34254/{key}")).unwrap();
        assert!(matches!(d.pool, DestinationPool::Sv2 { .. }));
        assert_eq!(
            Destination::parse("sv2+tcp://buyer@127.0.0.1:34254"),
            Err(DestinationError::MissingAuthority)
        );
        assert!(matches!(
            Destination::parse("sv2+tcp://127.0.0.1:34254/notakey"),
            Err(DestinationError::Authority(_))
        ));
    }

    #[test]
    fn garbage_is_refused() {
        for (text, expected) in [
            ("", DestinationError::NotAUrl),
            ("127.0.0.1:3333", DestinationError::NotAUrl),
            (
                "http://x@1.2.3.4:80",
                DestinationError::Scheme("http".into()),
            ),
            (
                "stratum+tcp://u:p@%zz",
                DestinationError::Address(String::new()),
            ),
            ("stratum+tcp://u%:p@host:1", DestinationError::Encoding),
        ] {
            let result = Destination::parse(text);
            match (&result, &expected) {
                (Err(DestinationError::Address(_)), DestinationError::Address(_)) => {}
                _ => assert_eq!(result, Err(expected), "{text}"),
            }
        }
        assert_eq!(
            Destination::parse(&format!("stratum+tcp://{}@h:1", "u".repeat(2000))),
            Err(DestinationError::TooLong)
        );
        assert!(Destination::parse("stratum+tcp://u:p@host").is_err());
    }
}
