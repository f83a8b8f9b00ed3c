//! The JSON-RPC reads of the chain watcher: block numbers and times, the factory's contract
//! list, one contract's public variables, and logs. Calls are encoded and decoded with the
//! `contracts::abi` bindings; every call is bounded by a timeout, so a silent RPC is a failure
//! like a refused one.

use std::future::IntoFuture;
use std::time::Duration;

use alloy::eips::BlockId;
use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::{Provider, ProviderBuilder, RootProvider};
use alloy::rpc::types::{BlockNumberOrTag, Filter, Log, TransactionInput, TransactionRequest};
use alloy::sol_types::SolCall;
use contracts::abi::{CloneFactory, Implementation};

/// Why an RPC read failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("cannot connect to {rpc}: {reason}")]
    Connect { rpc: String, reason: String },
    #[error("{call}: {reason}")]
    Call { call: &'static str, reason: String },
    #[error("{call} timed out after {timeout:?}")]
    Timeout {
        call: &'static str,
        timeout: Duration,
    },
    #[error("block {0} not found")]
    MissingBlock(u64),
    #[error("{call}: cannot decode the answer: {reason}")]
    Decode { call: &'static str, reason: String },
}

/// A contract's public variables as `getPublicVariablesV2` returns them, at one block.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractRead {
    pub running: bool,
    pub speed_hs: U256,
    pub length_s: U256,
    pub version: u32,
    pub started_at: U256,
    pub buyer: Address,
    pub seller: Address,
    /// `encrValidatorURL`: the destination encrypted to the seller's key (hex).
    pub encrypted_destination: String,
    pub deleted: bool,
}

/// A connected RPC endpoint.
pub struct Rpc {
    provider: RootProvider,
    timeout: Duration,
}

impl Rpc {
    /// Connects to `url` (`http(s)://` or `ws(s)://`); `shown` is the URL as logs may show it.
    pub async fn connect(url: &str, shown: &str, timeout: Duration) -> Result<Rpc, RpcError> {
        let connecting = ProviderBuilder::default().connect(url);
        let provider = match tokio::time::timeout(timeout, connecting).await {
            Ok(Ok(provider)) => provider,
            Ok(Err(e)) => {
                return Err(RpcError::Connect {
                    rpc: shown.to_string(),
                    reason: e.to_string(),
                })
            }
            Err(_) => {
                return Err(RpcError::Connect {
                    rpc: shown.to_string(),
                    reason: format!("timed out after {timeout:?}"),
                })
            }
        };
        Ok(Rpc { provider, timeout })
    }

    async fn bounded<T, E: std::fmt::Display>(
        &self,
        call: &'static str,
        request: impl IntoFuture<Output = Result<T, E>>,
    ) -> Result<T, RpcError> {
        match tokio::time::timeout(self.timeout, request.into_future()).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(RpcError::Call {
                call,
                reason: e.to_string(),
            }),
            Err(_) => Err(RpcError::Timeout {
                call,
                timeout: self.timeout,
            }),
        }
    }

    pub async fn block_number(&self) -> Result<u64, RpcError> {
        self.bounded("eth_blockNumber", self.provider.get_block_number())
            .await
    }

    /// The timestamp of block `number` (chain time, unix seconds).
    pub async fn block_time(&self, number: u64) -> Result<u64, RpcError> {
        let block = self
            .bounded(
                "eth_getBlockByNumber",
                self.provider
                    .get_block_by_number(BlockNumberOrTag::Number(number)),
            )
            .await?
            .ok_or(RpcError::MissingBlock(number))?;
        Ok(block.header.timestamp)
    }

    async fn call(
        &self,
        call: &'static str,
        to: Address,
        data: Vec<u8>,
        block: u64,
    ) -> Result<Bytes, RpcError> {
        let request = TransactionRequest::default()
            .to(to)
            .input(TransactionInput::new(data.into()));
        self.bounded(
            call,
            self.provider.call(request).block(BlockId::number(block)),
        )
        .await
    }

    /// Every contract the factory knows, at `block`.
    pub async fn contract_list(
        &self,
        factory: Address,
        block: u64,
    ) -> Result<Vec<Address>, RpcError> {
        const CALL: &str = "getContractList";
        let data = CloneFactory::getContractListCall {}.abi_encode();
        let answer = self.call(CALL, factory, data, block).await?;
        CloneFactory::getContractListCall::abi_decode_returns(&answer).map_err(|e| {
            RpcError::Decode {
                call: CALL,
                reason: e.to_string(),
            }
        })
    }

    /// One contract's public variables at `block`.
    pub async fn read_contract(
        &self,
        contract: Address,
        block: u64,
    ) -> Result<ContractRead, RpcError> {
        const CALL: &str = "getPublicVariablesV2";
        let data = Implementation::getPublicVariablesV2Call {}.abi_encode();
        let answer = self.call(CALL, contract, data, block).await?;
        let v =
            Implementation::getPublicVariablesV2Call::abi_decode_returns(&answer).map_err(|e| {
                RpcError::Decode {
                    call: CALL,
                    reason: e.to_string(),
                }
            })?;
        Ok(ContractRead {
            running: v._state == 1,
            speed_hs: v._terms._speed,
            length_s: v._terms._length,
            version: v._terms._version,
            started_at: v._startingBlockTimestamp,
            buyer: v._buyer,
            seller: v._seller,
            encrypted_destination: v._encryptedPoolData,
            deleted: v._isDeleted,
        })
    }

    /// Logs of `addresses` in blocks `from..=to`.
    pub async fn logs(
        &self,
        addresses: Vec<Address>,
        from: u64,
        to: u64,
    ) -> Result<Vec<Log>, RpcError> {
        let filter = Filter::new()
            .address(addresses)
            .from_block(from)
            .to_block(to);
        self.bounded("eth_getLogs", self.provider.get_logs(&filter))
            .await
    }
}
