//! What the template provider says (Template Distribution Protocol), in the core's terms, and
//! what the core asks of it. The network layer (`net::tp_client`) translates to and from SV2.

/// A block template (TDP `NewTemplate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub template_id: u64,
    /// Waits for a `SetNewPrevHash` naming it; otherwise it applies on the current tip at once.
    pub future: bool,
    pub version: u32,
    pub coinbase_tx_version: u32,
    /// The start of the coinbase scriptSig (the BIP34 height), at most 8 bytes.
    pub coinbase_prefix: Vec<u8>,
    pub coinbase_tx_input_sequence: u32,
    /// Satoshis the coinbase may pay out (subsidy and fees) beyond the template's own outputs.
    pub coinbase_tx_value_remaining: u64,
    pub coinbase_tx_outputs_count: u32,
    /// The template's own coinbase outputs (e.g. the witness commitment), consensus-serialized
    /// one after another, without a count.
    pub coinbase_tx_outputs: Vec<u8>,
    pub coinbase_tx_locktime: u32,
    /// The coinbase's merkle path, deepest first, internal byte order.
    pub merkle_path: Vec<[u8; 32]>,
}

/// A new chain tip and the template that mines on it (TDP `SetNewPrevHash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateTip {
    pub template_id: u64,
    /// Internal byte order.
    pub prev_hash: [u8; 32],
    pub header_timestamp: u32,
    pub nbits: u32,
}

/// Everything the template provider's connection reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateEvent {
    /// The session is set up; templates follow our `CoinbaseOutputConstraints`.
    Connected,
    NewTemplate(Template),
    SetNewPrevHash(TemplateTip),
    /// `RequestTransactionData.Success`: the template's transactions (consensus serialization,
    /// with witness), in block order.
    TransactionData {
        template_id: u64,
        transactions: Vec<Vec<u8>>,
        excess_data: Vec<u8>,
    },
    /// `RequestTransactionData.Error`.
    TransactionDataError {
        template_id: u64,
        code: String,
    },
    /// The connection is gone (or never came); the network layer is reconnecting.
    Disconnected {
        reason: String,
    },
}

/// A found block for the template provider (TDP `SubmitSolution`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solution {
    pub template_id: u64,
    pub version: u32,
    pub header_timestamp: u32,
    pub header_nonce: u32,
    /// The full coinbase transaction (with its witness when the template commits to one).
    pub coinbase_tx: Vec<u8>,
}

/// What the core asks of the template provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateCommand {
    /// Room the node's coinbase outputs need beyond the template's own.
    CoinbaseOutputConstraints {
        max_additional_size: u32,
        max_additional_sigops: u16,
    },
    RequestTransactionData {
        template_id: u64,
    },
    SubmitSolution(Solution),
}
