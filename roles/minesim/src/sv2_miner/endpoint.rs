use std::fmt;

use super::error::Sv2MinerError;

/// Where the miner connects: a host name or IP literal and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// Without brackets for IPv6 literals (as `TcpStream::connect` wants it).
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// Parses `HOST:PORT` or `[IPV6]:PORT`.
    pub fn parse(address: &str) -> Result<Self, Sv2MinerError> {
        let invalid = || Sv2MinerError::InvalidAddress(address.to_string());
        let (host, port) = address.rsplit_once(':').ok_or_else(invalid)?;
        let host = match host.strip_prefix('[') {
            Some(inner) => inner.strip_suffix(']').ok_or_else(invalid)?,
            None if host.contains(':') => return Err(invalid()),
            None => host,
        };
        let port = port.parse().map_err(|_| invalid())?;
        if host.is_empty() {
            return Err(invalid());
        }
        Ok(Self {
            host: host.to_string(),
            port,
        })
    }

    /// Where a `Reconnect` sends us: an empty host keeps the host, port 0 keeps the port.
    pub fn redirect(&self, new_host: &str, new_port: u16) -> Self {
        Self {
            host: match new_host.trim() {
                "" => self.host.clone(),
                h => h
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .unwrap_or(h)
                    .to_string(),
            },
            port: if new_port == 0 { self.port } else { new_port },
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_redirects() {
        let e = Endpoint::parse("127.0.0.1:3336").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 3336));
        assert_eq!(e.to_string(), "127.0.0.1:3336");
        let v6 = Endpoint::parse("[::1]:80").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 80));
        assert_eq!(v6.to_string(), "[::1]:80");
        assert!(Endpoint::parse("::1:80").is_err());
        assert!(Endpoint::parse("host").is_err());
        assert!(Endpoint::parse(":80").is_err());
        assert!(Endpoint::parse("host:99999").is_err());

        assert_eq!(e.redirect("", 0), e);
        assert_eq!(e.redirect("", 4000).to_string(), "127.0.0.1:4000");
        assert_eq!(e.redirect("localhost", 0).to_string(), "localhost:3336");
        assert_eq!(e.redirect("[::1]", 5).to_string(), "[::1]:5");
    }
}
