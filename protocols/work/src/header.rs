use crate::sha256d;

/// An 80-byte bitcoin block header in its fields.
///
/// `prev_hash` and `merkle_root` are in internal byte order (as hashed), which is also how SV2
/// carries them; SV1's word-swapped `prevhash` is converted by the SV1 codec, not here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHeader {
    pub version: u32,
    pub prev_hash: [u8; 32],
    pub merkle_root: [u8; 32],
    pub ntime: u32,
    pub nbits: u32,
    pub nonce: u32,
}

impl BlockHeader {
    /// The header as serialized on the wire and hashed.
    pub fn to_bytes(&self) -> [u8; 80] {
        let mut out = [0u8; 80];
        out[0..4].copy_from_slice(&self.version.to_le_bytes());
        out[4..36].copy_from_slice(&self.prev_hash);
        out[36..68].copy_from_slice(&self.merkle_root);
        out[68..72].copy_from_slice(&self.ntime.to_le_bytes());
        out[72..76].copy_from_slice(&self.nbits.to_le_bytes());
        out[76..80].copy_from_slice(&self.nonce.to_le_bytes());
        out
    }

    /// sha256d of the header, little-endian (compare with [`crate::Target`]).
    pub fn hash(&self) -> [u8; 32] {
        sha256d(&self.to_bytes())
    }
}
