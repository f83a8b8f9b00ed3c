use crate::hex;
use crate::Sv1Error;

/// The extranonce2 of a share, 2 to 8 bytes, stored inline so parsing a submit never allocates.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Extranonce2 {
    bytes: [u8; 8],
    len: u8,
}

impl Extranonce2 {
    pub const MIN_LEN: usize = 2;
    pub const MAX_LEN: usize = 8;

    /// Wraps raw bytes, rejecting lengths outside 2..=8.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Sv1Error> {
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&bytes.len()) {
            return Err(Sv1Error::Extranonce2Length { len: bytes.len() });
        }
        let mut inline = [0u8; 8];
        inline
            .get_mut(..bytes.len())
            .ok_or(Sv1Error::Extranonce2Length { len: bytes.len() })?
            .copy_from_slice(bytes);
        Ok(Self {
            bytes: inline,
            len: bytes.len() as u8,
        })
    }

    /// Decodes the hex a device submits.
    pub fn from_hex(text: &str) -> Result<Self, Sv1Error> {
        if text.len() & 1 == 1 {
            return Err(Sv1Error::BadHex {
                field: "extranonce2",
            });
        }
        let len = text.len() / 2;
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(Sv1Error::Extranonce2Length { len });
        }
        let mut bytes = [0u8; 8];
        let slot = bytes
            .get_mut(..len)
            .ok_or(Sv1Error::Extranonce2Length { len })?;
        hex::decode_into(text, slot, "extranonce2")?;
        Ok(Self {
            bytes,
            len: len as u8,
        })
    }

    /// A counter value written big-endian into `len` bytes (how miners roll extranonce2).
    pub fn from_counter(counter: u64, len: usize) -> Result<Self, Sv1Error> {
        let be = counter.to_be_bytes();
        let start = 8usize
            .checked_sub(len)
            .ok_or(Sv1Error::Extranonce2Length { len })?;
        Self::from_bytes(be.get(start..).unwrap_or_default())
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Never true (at least two bytes); here for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for Extranonce2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Extranonce2({})", hex::to_hex(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert!(Extranonce2::from_hex("00").is_err());
        assert!(Extranonce2::from_hex("000000000000000000").is_err());
        assert!(Extranonce2::from_hex("0000").is_ok());
        assert_eq!(
            Extranonce2::from_hex("0A0B0C0D0E0F")
                .map(|e| e.as_bytes().to_vec())
                .ok(),
            Some(vec![10, 11, 12, 13, 14, 15])
        );
        assert!(Extranonce2::from_hex("0a0").is_err());
        assert_eq!(
            Extranonce2::from_counter(0x0102, 4)
                .map(|e| e.as_bytes().to_vec())
                .ok(),
            Some(vec![0, 0, 1, 2])
        );
        assert!(Extranonce2::from_counter(1, 9).is_err());
    }
}
