use sv1::Extranonce2;

/// Which job a grinding thread works on: echoed with every share it finds.
#[derive(Debug, Clone)]
pub(crate) struct JobTag {
    /// Connection number, so shares found for a previous connection are dropped.
    pub session: u64,
    pub job_id: String,
}

/// A nonce that met the target, on its way to `mining.submit`.
#[derive(Debug)]
pub(crate) struct Share {
    pub session: u64,
    pub job_id: String,
    pub extranonce2: Extranonce2,
    pub ntime: u32,
    pub nonce: u32,
    pub version_bits: Option<u32>,
}
