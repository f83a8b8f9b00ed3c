//! What the operator sees of the on-chain allocation source: the chain's progress, whether the
//! RPC answers, and every contract of the seller with what the node makes of it.

/// A contract's lifecycle as the node reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractPhase {
    /// Not purchased (or over): no hashrate owed.
    Available,
    /// Purchased and within its length: the node delivers `speed`.
    Running,
}

/// One contract of the seller.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractSnapshot {
    /// `0x`-prefixed lowercase hex; also the name of its route.
    pub address: String,
    pub phase: ContractPhase,
    /// Deleted by the seller: it cannot be bought again (a running purchase still delivers).
    pub deleted: bool,
    pub speed_hs: f64,
    pub length_s: u64,
    /// Chain time the current purchase started (0 if never purchased).
    pub started_at: u64,
    pub buyer: String,
    /// The decrypted destination without its password, when running and usable.
    pub destination: Option<String>,
    /// Why a running contract's hashrate stays on the default route (undecryptable or
    /// unparseable destination).
    pub invalid: Option<String>,
}

/// The chain source at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChainSnapshot {
    /// The RPC endpoint without path or credentials (API keys often live there).
    pub rpc: String,
    pub factory: String,
    /// The wallet whose contracts are watched.
    pub seller: String,
    pub head_block: Option<u64>,
    /// The newest block the node acts on (`head - confirmations`).
    pub confirmed_block: Option<u64>,
    /// Wall-clock time of the last successful poll.
    pub synced_at_unix: Option<u64>,
    /// Set while the RPC fails: since when (the last known allocations keep running until
    /// their own end times meanwhile).
    pub stale_since_unix: Option<u64>,
    pub last_error: Option<String>,
    /// Wall-clock time of the last full reconciliation.
    pub reconciled_at_unix: Option<u64>,
    /// While the first full read of the contracts is under way: how far it got.
    pub startup: Option<ReadProgress>,
    pub contracts: Vec<ContractSnapshot>,
}

/// How far a read of every contract got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadProgress {
    pub done: u64,
    /// `None` until the factory's list is read.
    pub total: Option<u64>,
}

impl ChainSnapshot {
    pub fn is_stale(&self) -> bool {
        self.stale_since_unix.is_some()
    }
}
