//! Hex helpers for the stratum conventions, without allocating where the size is fixed.

use crate::Sv1Error;

const DIGITS: &[u8; 16] = b"0123456789abcdef";

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Appends lowercase hex of `bytes`.
pub fn write_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0x0f)]);
    }
}

/// Lowercase hex of `bytes` as a `String` (for logs and tests).
pub fn to_hex(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    write_hex(&mut out, bytes);
    String::from_utf8(out).unwrap_or_default()
}

/// Appends `value` as 8 big-endian hex digits (how stratum writes version, nbits, ntime, nonce).
pub fn write_u32_hex(out: &mut Vec<u8>, value: u32) {
    write_hex(out, &value.to_be_bytes());
}

/// Decodes hex (either case) into `out`, which must be exactly half the text's length.
pub fn decode_into(text: &str, out: &mut [u8], field: &'static str) -> Result<(), Sv1Error> {
    let bytes = text.as_bytes();
    if bytes.len() != out.len() * 2 {
        return Err(Sv1Error::BadHex { field });
    }
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        match (
            pair.first().copied().and_then(nibble),
            pair.get(1).copied().and_then(nibble),
        ) {
            (Some(hi), Some(lo)) => *slot = hi << 4 | lo,
            _ => return Err(Sv1Error::BadHex { field }),
        }
    }
    Ok(())
}

/// Decodes variable-length hex (coinbase parts, extranonce1).
pub fn decode_vec(text: &str, field: &'static str) -> Result<Vec<u8>, Sv1Error> {
    if text.len() & 1 == 1 {
        return Err(Sv1Error::BadHex { field });
    }
    let mut out = vec![0u8; text.len() / 2];
    decode_into(text, &mut out, field)?;
    Ok(out)
}

/// Decodes 32 bytes of hex kept in the given order (merkle branch entries).
pub fn decode_32(text: &str, field: &'static str) -> Result<[u8; 32], Sv1Error> {
    let mut out = [0u8; 32];
    decode_into(text, &mut out, field)?;
    Ok(out)
}

/// Parses a big-endian u32 of 1 to 8 hex digits. Some firmware drops leading zeros of ntime or
/// version bits, so shorter values are accepted.
pub fn parse_u32_hex(text: &str, field: &'static str) -> Result<u32, Sv1Error> {
    if text.is_empty() || text.len() > 8 {
        return Err(Sv1Error::BadHex { field });
    }
    text.bytes().try_fold(0u32, |acc, c| {
        nibble(c)
            .map(|n| acc << 4 | u32::from(n))
            .ok_or(Sv1Error::BadHex { field })
    })
}

/// Swaps the bytes of each 4-byte word: the stratum `prevhash` is the internal-order hash with
/// every word byte-swapped (a historical artefact of bfgminer's word-wise SHA input). The swap is
/// its own inverse.
pub fn swap_words(hash: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (dst, src) in out.chunks_exact_mut(4).zip(hash.chunks_exact(4)) {
        for (d, s) in dst.iter_mut().zip(src.iter().rev()) {
            *d = *s;
        }
    }
    out
}

/// Appends a prevhash in internal order using the stratum convention.
pub fn write_stratum_prevhash(out: &mut Vec<u8>, prev_hash: &[u8; 32]) {
    write_hex(out, &swap_words(prev_hash));
}

/// Decodes a stratum `prevhash` into internal byte order.
pub fn parse_stratum_prevhash(text: &str) -> Result<[u8; 32], Sv1Error> {
    Ok(swap_words(&decode_32(text, "prevhash")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prevhash_convention_matches_a_real_block() {
        // Block 100000's hash as explorers show it (big-endian) and as stratum pools sent it.
        let display = "000000000003ba27aa200b1cecaad478d2b00432346c3f1f3986da1afd33e506";
        let stratum = "fd33e5063986da1a346c3f1fd2b00432ecaad478aa200b1c0003ba2700000000";
        let mut internal = decode_32(display, "t").unwrap_or_default();
        internal.reverse();
        assert_eq!(parse_stratum_prevhash(stratum).ok(), Some(internal));
        let mut out = Vec::new();
        write_stratum_prevhash(&mut out, &internal);
        assert_eq!(out, stratum.as_bytes());
    }

    #[test]
    fn u32_hex() {
        assert_eq!(parse_u32_hex("1FFFE000", "x").ok(), Some(0x1fff_e000));
        assert_eq!(parse_u32_hex("4000", "x").ok(), Some(0x4000));
        assert!(parse_u32_hex("", "x").is_err());
        assert!(parse_u32_hex("123456789", "x").is_err());
        assert!(parse_u32_hex("12g4", "x").is_err());
        let mut out = Vec::new();
        write_u32_hex(&mut out, 0x2000_0000);
        assert_eq!(out, b"20000000");
    }

    #[test]
    fn bad_hex() {
        assert!(decode_vec("abc", "x").is_err());
        assert!(decode_vec("zz", "x").is_err());
        assert_eq!(decode_vec("ABcd", "x").ok(), Some(vec![0xab, 0xcd]));
    }
}
