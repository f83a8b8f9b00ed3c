//! What a route's Job Declaration Server says, in the core's terms, and what the core sends it.
//! The network layer (`net::jds_client`) translates to and from SV2 Job Declaration messages.

/// Everything a JDS connection reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JdsEvent {
    /// The session is set up (full-template mode).
    Connected,
    /// `AllocateMiningJobToken.Success`.
    TokenAllocated {
        request_id: u32,
        token: Vec<u8>,
        /// Outputs the pool requires in the coinbase: a consensus-serialized `Vec<TxOut>` (with
        /// its count), as on the wire.
        coinbase_outputs: Vec<u8>,
    },
    /// `DeclareMiningJob.Success`: the token to put in `SetCustomMiningJob`.
    DeclareSuccess { request_id: u32, new_token: Vec<u8> },
    /// `DeclareMiningJob.Error`.
    DeclareError {
        request_id: u32,
        code: String,
        details: Vec<u8>,
    },
    /// `ProvideMissingTransactions`: positions in the declared job's transaction list.
    ProvideMissingTransactions {
        request_id: u32,
        positions: Vec<u16>,
    },
    /// The connection is gone (or never came, or the JDS broke the protocol); the network layer
    /// retries.
    Disconnected { reason: String },
}

/// A job declaration message for the JDS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JdsCommand {
    /// `AllocateMiningJobToken` (the client adds the route's user identity).
    AllocateToken { request_id: u32 },
    DeclareMiningJob {
        request_id: u32,
        token: Vec<u8>,
        version: u32,
        /// The full coinbase (with witness) up to the extranonce, and after it.
        coinbase_tx_prefix: Vec<u8>,
        coinbase_tx_suffix: Vec<u8>,
        /// wtxids of the template's transactions, in block order, internal byte order.
        wtxids: Vec<[u8; 32]>,
        excess_data: Vec<u8>,
    },
    ProvideMissingTransactionsSuccess {
        request_id: u32,
        transactions: Vec<Vec<u8>>,
    },
    PushSolution {
        /// The full extranonce: the pool channel's prefix and everything rolled after it.
        extranonce: Vec<u8>,
        prev_hash: [u8; 32],
        nonce: u32,
        ntime: u32,
        nbits: u32,
        version: u32,
    },
    /// The JDS broke the protocol in a way only the core can see: drop the connection (and
    /// retry later).
    Close { reason: String },
}

/// A job for the pool, declared by us (`SetCustomMiningJob` on the route's channel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomJob {
    pub channel_id: u32,
    pub request_id: u32,
    pub token: Vec<u8>,
    pub version: u32,
    pub prev_hash: [u8; 32],
    pub min_ntime: u32,
    pub nbits: u32,
    pub coinbase_tx_version: u32,
    /// The coinbase scriptSig up to the extranonce, its push opcode included.
    pub coinbase_prefix: Vec<u8>,
    pub coinbase_tx_input_n_sequence: u32,
    /// Every coinbase output, consensus-serialized with its count.
    pub coinbase_tx_outputs: Vec<u8>,
    pub coinbase_tx_locktime: u32,
    pub merkle_path: Vec<[u8; 32]>,
}
