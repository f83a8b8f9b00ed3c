use std::cmp::Ordering;
use std::fmt;

/// A 256-bit proof-of-work target: a hash meets it when `hash <= target`.
///
/// Stored as four little-endian u64 limbs so comparisons against a hash are cheap and free of
/// allocation (this runs once per share on the node's hot path).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target([u64; 4]);

/// The difficulty-1 target of bitcoin pools ("bdiff"): `0xffff << 208`.
pub const DIFFICULTY_1_TARGET: Target = Target([0, 0, 0, 0x0000_0000_ffff_0000]);

const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

impl Target {
    /// The easiest possible target (every hash meets it).
    pub const MAX: Target = Target([u64::MAX; 4]);

    pub fn from_le_bytes(bytes: [u8; 32]) -> Self {
        let mut limbs = [0u64; 4];
        for (i, limb) in limbs.iter_mut().enumerate() {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            *limb = u64::from_le_bytes(word);
        }
        Target(limbs)
    }

    pub fn to_le_bytes(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, limb) in self.0.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&limb.to_le_bytes());
        }
        out
    }

    /// Decodes a block header's compact `nbits`. Negative or overflowing encodings give `None`.
    pub fn from_compact(nbits: u32) -> Option<Self> {
        let exponent = nbits >> 24;
        let mantissa = nbits & 0x007f_ffff;
        if nbits & 0x0080_0000 != 0 && mantissa != 0 {
            return None;
        }
        let mut bytes = [0u8; 32];
        let mantissa_bytes = mantissa.to_le_bytes();
        // The mantissa is a 3-byte big number placed so that its top byte is at `exponent - 1`.
        for (i, byte) in mantissa_bytes.iter().take(3).enumerate() {
            let position = exponent as i64 - 3 + i as i64;
            if *byte == 0 {
                continue;
            }
            if !(0..32).contains(&position) {
                if position >= 32 {
                    return None;
                }
                continue;
            }
            bytes[position as usize] = *byte;
        }
        Some(Target::from_le_bytes(bytes))
    }

    /// The target for a pool difficulty (`DIFFICULTY_1_TARGET / difficulty`), saturating at
    /// [`Target::MAX`] for difficulties at or below the smallest representable one.
    pub fn from_difficulty(difficulty: f64) -> Self {
        if !(difficulty.is_finite() && difficulty > 0.0) {
            return Target::MAX;
        }
        Self::from_f64(DIFFICULTY_1_TARGET.to_f64() / difficulty)
    }

    /// The pool difficulty this target stands for (inverse of [`Target::from_difficulty`]).
    pub fn difficulty(&self) -> f64 {
        let value = self.to_f64();
        if value == 0.0 {
            return f64::INFINITY;
        }
        DIFFICULTY_1_TARGET.to_f64() / value
    }

    /// Expected hashes per share at this target: `2^256 / (target + 1)`.
    pub fn work(&self) -> f64 {
        2f64.powi(256) / (self.to_f64() + 1.0)
    }

    /// Whether a sha256d hash (little-endian) meets this target.
    pub fn is_met_by(&self, hash: &[u8; 32]) -> bool {
        Target::from_le_bytes(*hash) <= *self
    }

    /// The harder (smaller) of two targets.
    pub fn min(self, other: Target) -> Target {
        if self <= other {
            self
        } else {
            other
        }
    }

    fn to_f64(self) -> f64 {
        self.0
            .iter()
            .rev()
            .fold(0.0, |acc, limb| acc * TWO_POW_64 + *limb as f64)
    }

    fn from_f64(value: f64) -> Self {
        if value.is_nan() || value < 1.0 {
            return Target([0; 4]);
        }
        if value >= 2f64.powi(256) {
            return Target::MAX;
        }
        let bits = value.to_bits();
        let exponent = ((bits >> 52) & 0x7ff) as i64 - 1075;
        let mantissa = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
        let mut limbs = [0u64; 4];
        if exponent < 0 {
            limbs[0] = mantissa >> (-exponent);
        } else {
            // value = mantissa << exponent; write it into the limbs across a word boundary.
            let shift = exponent as usize;
            let word = shift / 64;
            let offset = shift % 64;
            limbs[word] = mantissa << offset;
            if offset > 0 && word + 1 < 4 {
                limbs[word + 1] = mantissa >> (64 - offset);
            }
        }
        Target(limbs)
    }
}

impl PartialOrd for Target {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Target {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.iter().rev().cmp(other.0.iter().rev())
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({self})")
    }
}

impl fmt::Display for Target {
    /// Big-endian hex, the way explorers and pools print targets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = self.to_le_bytes();
        bytes.reverse();
        f.write_str(&hex::encode(bytes))
    }
}
