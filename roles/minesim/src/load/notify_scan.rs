//! A cheap look at a `mining.notify` line: only its prev hash. Ten thousand idle connections
//! receive every new block's job; fully parsing each (hex-decoding coinbases and branches)
//! would make the load generator, sharing the cores with the proxy, slower than what it
//! measures. Connections parse a job fully only when they grind a share on it.

/// The prev hash (internal byte order) of a `mining.notify` line, or `None` when the line is
/// not one or is laid out in a way this scan does not follow (the caller then parses fully).
pub fn notify_prev_hash(line: &[u8]) -> Option<[u8; 32]> {
    find(line, b"\"mining.notify\"")?;
    let params = find(line, b"\"params\"")? + b"\"params\"".len();
    let mut rest = skip_space(&line[params..]);
    rest = skip_space(rest.strip_prefix(b":")?);
    rest = skip_space(rest.strip_prefix(b"[")?);
    // The job id: a JSON string, skipped with its escapes.
    rest = rest.strip_prefix(b"\"")?;
    let mut i = 0;
    loop {
        match *rest.get(i)? {
            b'\\' => i += 2,
            b'"' => break,
            _ => i += 1,
        }
    }
    rest = skip_space(&rest[i + 1..]);
    rest = skip_space(rest.strip_prefix(b",")?);
    rest = rest.strip_prefix(b"\"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    let text = std::str::from_utf8(&rest[..end]).ok()?;
    sv1::hex::parse_stratum_prevhash(text).ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn skip_space(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use sv1::{parse_server, ServerMessage};

    fn notify_line(job_id: &str, spaced: bool) -> Vec<u8> {
        let prev = "00000000111111112222222233333333444444445555555566666666aaaaaaaa";
        let sep = if spaced { ", " } else { "," };
        format!(
            "{{\"id\":null,\"method\":\"mining.notify\",\"params\":[\"{job_id}\"{sep}\"{prev}\"{sep}\"01\"{sep}\"02\"{sep}[]{sep}\"20000000\"{sep}\"1d00ffff\"{sep}\"6553f100\"{sep}true]}}"
        )
        .into_bytes()
    }

    #[test]
    fn the_scan_agrees_with_the_full_parser() {
        for (job_id, spaced) in [("1a", false), ("we\\\"ird", true)] {
            let line = notify_line(job_id, spaced);
            let Ok(ServerMessage::Notify(full)) = parse_server(&line) else {
                panic!("the test line parses: {}", String::from_utf8_lossy(&line));
            };
            assert_eq!(notify_prev_hash(&line), Some(full.prev_hash));
        }
    }

    #[test]
    fn other_lines_are_left_to_the_full_parser() {
        assert_eq!(
            notify_prev_hash(b"{\"id\":1,\"result\":true,\"error\":null}"),
            None
        );
        assert_eq!(
            notify_prev_hash(b"{\"method\":\"mining.notify\",\"params\":{\"x\":1}}"),
            None
        );
        assert_eq!(
            notify_prev_hash(b"{\"method\":\"mining.notify\",\"params\":[\"1\""),
            None
        );
    }
}
