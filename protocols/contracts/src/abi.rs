//! ABI bindings for the Lumerin spot marketplace: the subset of its two contracts the node reads
//! and the tests drive.
//!
//! The real contracts are `contracts/contracts/marketplace/CloneFactory.sol` and
//! `contracts/contracts/marketplace/Implementation.sol` in
//! <https://github.com/Lumerin-protocol/spot-marketplace> (deployed behind proxies on Arbitrum).
//! Every function and event here keeps the on-chain name and parameter types, so selectors and
//! log topics match the real marketplace; our own test contracts in `solidity/` expose the same
//! subset, and a test checks the committed artifacts against these bindings.
//!
//! There is no RPC code here: callers encode calls with [`SolCall::abi_encode`], send them with
//! `eth_call` or `eth_sendTransaction` themselves, and decode returns and logs with the same
//! types.
//!
//! On-chain enums are `uint8` in the ABI; [`ContractState`] and [`CloseReason`] give them names.
//!
//! [`SolCall::abi_encode`]: alloy::sol_types::SolCall::abi_encode

alloy::sol! {
    /// The marketplace's entry point: creates one `Implementation` per hashrate contract, lists
    /// them, and forwards purchases, deletes and term updates to them.
    #[derive(Debug, PartialEq, Eq)]
    interface CloneFactory {
        /// A new contract at `_address`, whose seller will decrypt with `_pubkey`.
        event contractCreated(address indexed _address, string _pubkey);
        /// `_address` was purchased, validated by `_validator` (zero for none).
        event clonefactoryContractPurchased(address indexed _address, address indexed _validator);
        /// `_address` was deleted (no longer purchasable) or restored.
        event contractDeleteUpdated(address _address, bool _isDeleted);
        /// The seller changed the terms of `_address`.
        event purchaseInfoUpdated(address indexed _address);

        /// Creates a contract selling `_speed` H/s for `_length` seconds; the caller is the
        /// seller. The first, second and sixth parameters are unused on chain.
        function setCreateNewRentalContractV2(
            uint256,
            uint256,
            uint256 _speed,
            uint256 _length,
            int8 _profitTarget,
            address,
            string _pubKey
        ) external payable returns (address);

        /// Buys an available contract. `_encrValidatorURL` is encrypted to the seller's public
        /// key; `termsVersion` must equal the version of the terms being bought.
        function setPurchaseRentalContractV2(
            address _contractAddress,
            address _validatorAddress,
            string _encrValidatorURL,
            string _encrDestURL,
            uint32 termsVersion
        ) external payable;

        /// Deletes (or restores) the seller's contracts.
        function setContractsDeleted(address[] _contractAddresses, bool _isDeleted) external;

        /// New terms for a contract: applied at once if it is available, else at its next
        /// purchase or early close. The second and third parameters are unused on chain.
        function setUpdateContractInformationV2(
            address _contractAddress,
            uint256,
            uint256,
            uint256 _speed,
            uint256 _length,
            int8 _profitTarget
        ) external;

        /// Every contract this factory created, deleted ones included.
        function getContractList() external view returns (address[]);
    }

    /// One hashrate contract. It is Running while
    /// `block.timestamp < startingBlockTimestamp + terms._length`.
    #[derive(Debug, PartialEq, Eq)]
    interface Implementation {
        /// What a purchase buys. `_speed` in H/s, `_length` in seconds; `_version` counts term
        /// updates.
        struct Terms {
            uint256 _price;
            uint256 _fee;
            uint256 _speed;
            uint256 _length;
            uint32 _version;
            int8 _profitTarget;
        }

        /// Emitted on purchase. The real contract emits its caller here, which is the factory,
        /// not the buyer: read `buyer()` instead.
        event contractPurchased(address indexed _buyer);
        /// The buyer or validator closed the contract early; `_reason` is a [`CloseReason`](crate::abi::CloseReason).
        event closedEarly(uint8 _reason);
        /// The terms or future terms changed.
        event purchaseInfoUpdated(address indexed _address);
        /// The buyer changed where the hashrate goes.
        event destinationUpdated(string newValidatorURL, string newDestURL);
        /// Payments were claimed.
        event fundsClaimed();

        /// Everything a reader needs in one call. `_state` is a [`ContractState`](crate::abi::ContractState);
        /// `_encryptedPoolData` is `encrValidatorURL`.
        function getPublicVariablesV2() external view returns (
            uint8 _state,
            Terms _terms,
            uint256 _startingBlockTimestamp,
            address _buyer,
            address _seller,
            string _encryptedPoolData,
            bool _isDeleted,
            uint256 _balance,
            bool _hasFutureTerms
        );

        /// The current terms (a public struct getter: the members, not a tuple).
        function terms() external view returns (
            uint256 _price,
            uint256 _fee,
            uint256 _speed,
            uint256 _length,
            uint32 _version,
            int8 _profitTarget
        );
        /// Terms waiting for the next purchase or early close (all zero when none).
        function futureTerms() external view returns (
            uint256 _price,
            uint256 _fee,
            uint256 _speed,
            uint256 _length,
            uint32 _version,
            int8 _profitTarget
        );
        function startingBlockTimestamp() external view returns (uint256);
        function buyer() external view returns (address);
        function seller() external view returns (address);
        function validator() external view returns (address);
        function isDeleted() external view returns (bool);
        /// The seller's public key, as given at creation.
        function pubKey() external view returns (string);
        function encrValidatorURL() external view returns (string);
        function encrDestURL() external view returns (string);
        /// A [`ContractState`](crate::abi::ContractState).
        function contractState() external view returns (uint8);

        /// The buyer moves a running contract's hashrate.
        function setDestination(string _encrValidatorURL, string _encrDestURL) external;
        /// The buyer or validator ends a running contract now; `reason` is a [`CloseReason`](crate::abi::CloseReason).
        function closeEarly(uint8 reason) external;
    }
}

/// `Implementation.ContractState`, a `uint8` in the ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContractState {
    /// Not running: purchasable unless deleted.
    Available,
    /// Bought and within its length.
    Running,
}

impl ContractState {
    /// The state for its ABI value; `None` for values the contract does not define.
    pub fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(ContractState::Available),
            1 => Some(ContractState::Running),
            _ => None,
        }
    }

    /// The ABI value.
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

/// `Implementation.CloseReason`, a `uint8` in the ABI (`closeEarly`, `closedEarly`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    Unspecified,
    Underdelivery,
    DestinationUnavailable,
    ShareTimeout,
}

impl CloseReason {
    /// The reason for its ABI value; `None` for values the contract does not define.
    pub fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(CloseReason::Unspecified),
            1 => Some(CloseReason::Underdelivery),
            2 => Some(CloseReason::DestinationUnavailable),
            3 => Some(CloseReason::ShareTimeout),
            _ => None,
        }
    }

    /// The ABI value.
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

#[cfg(test)]
mod tests {
    //! Selectors and topics against signatures written out by hand, so a typo in the `sol!`
    //! block (a name, a type, a missing parameter) fails here.

    use super::*;
    use alloy::primitives::keccak256;
    use alloy::sol_types::{SolCall, SolEvent};

    fn selector(signature: &str) -> [u8; 4] {
        let hash = keccak256(signature.as_bytes());
        [hash[0], hash[1], hash[2], hash[3]]
    }

    #[test]
    fn factory_selectors_match_the_canonical_signatures() {
        use CloneFactory::*;
        assert_eq!(
            setCreateNewRentalContractV2Call::SELECTOR,
            selector(
                "setCreateNewRentalContractV2(uint256,uint256,uint256,uint256,int8,address,string)"
            )
        );
        assert_eq!(
            setPurchaseRentalContractV2Call::SELECTOR,
            selector("setPurchaseRentalContractV2(address,address,string,string,uint32)")
        );
        assert_eq!(
            setContractsDeletedCall::SELECTOR,
            selector("setContractsDeleted(address[],bool)")
        );
        assert_eq!(
            setUpdateContractInformationV2Call::SELECTOR,
            selector(
                "setUpdateContractInformationV2(address,uint256,uint256,uint256,uint256,int8)"
            )
        );
        assert_eq!(getContractListCall::SELECTOR, selector("getContractList()"));
    }

    #[test]
    fn implementation_selectors_match_the_canonical_signatures() {
        use Implementation::*;
        assert_eq!(
            getPublicVariablesV2Call::SELECTOR,
            selector("getPublicVariablesV2()")
        );
        assert_eq!(
            setDestinationCall::SELECTOR,
            selector("setDestination(string,string)")
        );
        assert_eq!(closeEarlyCall::SELECTOR, selector("closeEarly(uint8)"));
        assert_eq!(encrDestURLCall::SELECTOR, selector("encrDestURL()"));
        assert_eq!(pubKeyCall::SELECTOR, selector("pubKey()"));
        assert_eq!(futureTermsCall::SELECTOR, selector("futureTerms()"));
    }

    #[test]
    fn event_topics_match_the_canonical_signatures() {
        let topic = |s: &str| keccak256(s.as_bytes());
        assert_eq!(
            CloneFactory::contractCreated::SIGNATURE_HASH,
            topic("contractCreated(address,string)")
        );
        assert_eq!(
            CloneFactory::clonefactoryContractPurchased::SIGNATURE_HASH,
            topic("clonefactoryContractPurchased(address,address)")
        );
        assert_eq!(
            CloneFactory::contractDeleteUpdated::SIGNATURE_HASH,
            topic("contractDeleteUpdated(address,bool)")
        );
        assert_eq!(
            CloneFactory::purchaseInfoUpdated::SIGNATURE_HASH,
            topic("purchaseInfoUpdated(address)")
        );
        assert_eq!(
            Implementation::purchaseInfoUpdated::SIGNATURE_HASH,
            topic("purchaseInfoUpdated(address)")
        );
        assert_eq!(
            Implementation::contractPurchased::SIGNATURE_HASH,
            topic("contractPurchased(address)")
        );
        assert_eq!(
            Implementation::closedEarly::SIGNATURE_HASH,
            topic("closedEarly(uint8)")
        );
        assert_eq!(
            Implementation::destinationUpdated::SIGNATURE_HASH,
            topic("destinationUpdated(string,string)")
        );
        assert_eq!(
            Implementation::fundsClaimed::SIGNATURE_HASH,
            topic("fundsClaimed()")
        );
    }

    #[test]
    fn getpublicvariablesv2_returns_decode_in_the_on_chain_order() {
        use alloy::primitives::{Address, U256};
        use alloy::sol_types::{sol_data, SolType};
        // The on-chain return tuple, spelled out independently of the binding.
        type Returns = (
            sol_data::Uint<8>,
            Implementation::Terms,
            sol_data::Uint<256>,
            sol_data::Address,
            sol_data::Address,
            sol_data::String,
            sol_data::Bool,
            sol_data::Uint<256>,
            sol_data::Bool,
        );
        let terms = Implementation::Terms {
            _price: U256::from(7),
            _fee: U256::from(1),
            _speed: U256::from(100_000_000_000_000u64),
            _length: U256::from(3600),
            _version: 2,
            _profitTarget: -5,
        };
        let buyer = Address::repeat_byte(0xb0);
        let seller = Address::repeat_byte(0x5e);
        let encoded = Returns::abi_encode_params(&(
            1u8,
            terms.clone(),
            U256::from(1_700_000_000u64),
            buyer,
            seller,
            String::from("04abcd"),
            false,
            U256::ZERO,
            true,
        ));
        let got = Implementation::getPublicVariablesV2Call::abi_decode_returns(&encoded).unwrap();
        assert_eq!(
            ContractState::from_u8(got._state),
            Some(ContractState::Running)
        );
        assert_eq!(got._terms, terms);
        assert_eq!(got._startingBlockTimestamp, U256::from(1_700_000_000u64));
        assert_eq!((got._buyer, got._seller), (buyer, seller));
        assert_eq!(got._encryptedPoolData, "04abcd");
        assert!(!got._isDeleted && got._hasFutureTerms);
    }

    #[test]
    fn enum_values_round_trip_and_unknown_values_are_refused() {
        for v in 0..=3u8 {
            assert_eq!(CloseReason::from_u8(v).map(CloseReason::as_u8), Some(v));
        }
        assert_eq!(CloseReason::from_u8(4), None);
        assert_eq!(ContractState::from_u8(1).map(ContractState::as_u8), Some(1));
        assert_eq!(ContractState::from_u8(2), None);
    }
}
