//! Grinding one real share for a load connection: the header is built from the job, the
//! connection's extranonce1 and a fresh extranonce2, and nonces are tried until its sha256d meets
//! the target the proxy set.

use sv1::{Extranonce2, Notify};
use work::{coinbase_txid, merkle_root, BlockHeader, Target};

/// The most nonces tried for one share. At the difficulties a load test uses (around 1e-7,
/// a few hundred hashes) this is never reached; a proxy that set a real difficulty makes
/// the generator report exhausted grinds instead of burning the CPU it shares with the proxy.
pub const MAX_NONCES_PER_SHARE: u32 = 1 << 22;

/// A share that meets its target, ready for `mining.submit`.
#[derive(Debug, Clone)]
pub struct FoundShare {
    pub extranonce2: Extranonce2,
    pub ntime: u32,
    pub nonce: u32,
    /// Nonces tried to find it.
    pub hashes: u64,
}

/// Why no share came out.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GrindError {
    #[error("extranonce2 size {0} cannot be carried by mining.submit")]
    Extranonce2Size(usize),
    #[error("no nonce met the target within {0} tries (difficulty too high)")]
    Exhausted(u32),
}

/// Grinds a share of `job` for `extranonce2 = counter` (big-endian, `extranonce2_size` bytes),
/// trying at most `max_nonces` nonces.
pub fn grind(
    job: &Notify<'_>,
    extranonce1: &[u8],
    extranonce2_size: usize,
    counter: u64,
    target: &Target,
    max_nonces: u32,
) -> Result<FoundShare, GrindError> {
    let extranonce2 = Extranonce2::from_counter(counter, extranonce2_size)
        .map_err(|_| GrindError::Extranonce2Size(extranonce2_size))?;
    let txid = coinbase_txid(&[
        &job.coinb1,
        extranonce1,
        extranonce2.as_bytes(),
        &job.coinb2,
    ]);
    let mut header = BlockHeader {
        version: job.version,
        prev_hash: job.prev_hash,
        merkle_root: merkle_root(txid, &job.merkle_branch),
        ntime: job.ntime,
        nbits: job.nbits,
        nonce: 0,
    };
    for nonce in 0..max_nonces {
        header.nonce = nonce;
        if target.is_met_by(&header.hash()) {
            return Ok(FoundShare {
                extranonce2,
                ntime: job.ntime,
                nonce,
                hashes: u64::from(nonce) + 1,
            });
        }
    }
    Err(GrindError::Exhausted(max_nonces))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Notify<'static> {
        Notify {
            job_id: "1".into(),
            prev_hash: [7; 32],
            coinb1: vec![1, 2, 3],
            coinb2: vec![4, 5, 6],
            merkle_branch: vec![[9; 32], [10; 32]],
            version: 0x2000_0000,
            nbits: 0x1d00_ffff,
            ntime: 1_700_000_000,
            clean_jobs: false,
        }
    }

    #[test]
    fn a_ground_share_meets_its_target_when_rebuilt_independently() {
        let target = Target::from_difficulty(1e-7);
        let share = grind(&job(), &[0xaa, 0xbb], 4, 42, &target, MAX_NONCES_PER_SHARE).unwrap();
        assert_eq!(share.extranonce2.as_bytes(), &[0, 0, 0, 42]);
        let txid = coinbase_txid(&[&[1, 2, 3][..], &[0xaa, 0xbb], &[0, 0, 0, 42], &[4, 5, 6]]);
        let header = BlockHeader {
            version: 0x2000_0000,
            prev_hash: [7; 32],
            merkle_root: merkle_root(txid, &[[9u8; 32], [10u8; 32]]),
            ntime: 1_700_000_000,
            nbits: 0x1d00_ffff,
            nonce: share.nonce,
        };
        assert!(target.is_met_by(&header.hash()));
        assert_eq!(share.hashes, u64::from(share.nonce) + 1);
    }

    #[test]
    fn an_unreachable_target_is_reported_not_ground_forever() {
        let impossible = Target::from_le_bytes([0; 32]);
        assert_eq!(
            grind(&job(), &[1], 4, 0, &impossible, 1000).unwrap_err(),
            GrindError::Exhausted(1000)
        );
        let easy = Target::from_difficulty(1e-7);
        assert_eq!(
            grind(&job(), &[1], 0, 0, &easy, 1000).unwrap_err(),
            GrindError::Extranonce2Size(0)
        );
    }
}
