//! What a miner rolls besides the nonce: version bits within a mask, and extranonce bytes.

/// Spreads the low bits of `counter` over the set bits of `mask` (a software PDEP), giving
/// every combination of the rollable version bits in turn.
pub(crate) fn deposit_bits(mut counter: u64, mask: u32) -> u32 {
    let mut out = 0u32;
    for bit in 0..32 {
        let position = 1u32 << bit;
        if mask & position != 0 {
            if counter & 1 == 1 {
                out |= position;
            }
            counter >>= 1;
        }
    }
    out
}

/// `counter` written big-endian into the last (up to 8) of `size` bytes, zeros before: how
/// miners roll an extranonce (for 2..=8 bytes the same as `sv1::Extranonce2::from_counter`).
pub(crate) fn counter_bytes(counter: u64, size: usize) -> Vec<u8> {
    let mut out = vec![0u8; size];
    let be = counter.to_be_bytes();
    let n = size.min(8);
    out[size - n..].copy_from_slice(&be[8 - n..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deposit_bits_fills_the_mask_in_order() {
        assert_eq!(deposit_bits(0, 0x1fffe000), 0);
        assert_eq!(deposit_bits(1, 0x1fffe000), 0x2000);
        assert_eq!(deposit_bits(3, 0x1fffe000), 0x6000);
        assert_eq!(deposit_bits(0xffff, 0x1fffe000), 0x1fffe000);
        assert_eq!(deposit_bits(0b101, 0b1010_0010), 0b1000_0010);
    }

    #[test]
    fn counter_bytes_matches_sv1_extranonce2() {
        for size in 2..=8 {
            for counter in [0u64, 1, 0x0102, 0xdead_beef, u64::MAX] {
                let sv1 = sv1::Extranonce2::from_counter(counter, size).unwrap();
                assert_eq!(counter_bytes(counter, size), sv1.as_bytes());
            }
        }
        assert_eq!(counter_bytes(0x0102, 0), Vec::<u8>::new());
        assert_eq!(counter_bytes(0x0102, 1), vec![0x02]);
        let wide = counter_bytes(0x0102, 12);
        assert_eq!(wide, [&[0u8; 10][..], &[1, 2]].concat());
    }
}
