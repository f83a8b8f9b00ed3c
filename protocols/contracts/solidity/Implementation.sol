// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.20;

/// @title Implementation (hashrouter test double)
/// @notice One hashrate contract, for tests on a local chain. It exposes the subset of the Lumerin
/// spot marketplace's Implementation ABI that hashrouter reads, with the same state rules, so
/// the node cannot tell it from the real one. Payments, tokens, the price oracle and purchase
/// history are left out: prices, fees and balances read as zero.
contract Implementation {
    enum ContractState {
        Available,
        Running
    }

    enum CloseReason {
        Unspecified,
        Underdelivery,
        DestinationUnavailable,
        ShareTimeout
    }

    struct Terms {
        uint256 _price;
        uint256 _fee;
        uint256 _speed; // H/s
        uint256 _length; // seconds
        uint32 _version; // number of term updates so far
        int8 _profitTarget; // percent
    }

    Terms public terms;
    // Terms set while running; they replace `terms` at the next purchase or early close.
    Terms public futureTerms;
    // Zero until the first purchase, and again after an early close.
    uint256 public startingBlockTimestamp;
    address public buyer;
    address public seller;
    address public validator;
    bool public isDeleted;
    string public pubKey;
    string public encrValidatorURL;
    string public encrDestURL;
    address public immutable cloneFactory;

    // The real contract emits its caller, which is the factory, not the buyer; so does this one.
    event contractPurchased(address indexed _buyer);
    event closedEarly(CloseReason _reason);
    event purchaseInfoUpdated(address indexed _address);
    event destinationUpdated(string newValidatorURL, string newDestURL);
    // Declared so the ABI matches; nothing emits it, as there are no funds to claim.
    event fundsClaimed();

    modifier onlyCloneFactory() {
        require(msg.sender == cloneFactory, "only the factory can call this");
        _;
    }

    constructor(address _seller, string memory _pubKey, uint256 _speed, uint256 _length, int8 _profitTarget) {
        cloneFactory = msg.sender;
        seller = _seller;
        pubKey = _pubKey;
        terms = Terms(0, 0, _speed, _length, 0, _profitTarget);
    }

    /// @notice Running from a purchase until its length has passed (or an early close).
    function contractState() public view returns (ContractState) {
        if (block.timestamp < startingBlockTimestamp + terms._length) {
            return ContractState.Running;
        }
        return ContractState.Available;
    }

    /// @notice Everything a reader needs in one call; the pool data is `encrValidatorURL`.
    function getPublicVariablesV2()
        external
        view
        returns (
            ContractState _state,
            Terms memory _terms,
            uint256 _startingBlockTimestamp,
            address _buyer,
            address _seller,
            string memory _encryptedPoolData,
            bool _isDeleted,
            uint256 _balance,
            bool _hasFutureTerms
        )
    {
        return (
            contractState(),
            terms,
            startingBlockTimestamp,
            buyer,
            seller,
            encrValidatorURL,
            isDeleted,
            address(this).balance,
            futureTerms._length != 0
        );
    }

    /// @dev Called by the factory, which has checked the buyer, the deletion flag and the terms
    /// version.
    function setPurchaseContract(
        string calldata _encrValidatorURL,
        string calldata _encrDestURL,
        address _buyer,
        address _validator
    ) external onlyCloneFactory {
        require(contractState() == ContractState.Available, "contract is not available");
        applyFutureTerms();
        buyer = _buyer;
        validator = _validator;
        encrValidatorURL = _encrValidatorURL;
        encrDestURL = _encrDestURL;
        startingBlockTimestamp = block.timestamp;
        emit contractPurchased(msg.sender);
    }

    /// @notice The buyer points a running contract's hashrate somewhere else.
    function setDestination(string calldata _encrValidatorURL, string calldata _encrDestURL) external {
        require(msg.sender == buyer, "only the buyer can change the destination");
        require(contractState() == ContractState.Running, "contract is not running");
        encrValidatorURL = _encrValidatorURL;
        encrDestURL = _encrDestURL;
        emit destinationUpdated(_encrValidatorURL, _encrDestURL);
    }

    /// @dev Called by the factory for its seller. Each update bumps the version, so a buyer
    /// holding the old version cannot purchase the new terms by accident.
    function setUpdatePurchaseInformation(uint256 _speed, uint256 _length, int8 _profitTarget)
        external
        onlyCloneFactory
    {
        Terms memory updated = Terms(0, 0, _speed, _length, terms._version + 1, _profitTarget);
        if (contractState() == ContractState.Running) {
            futureTerms = updated;
        } else {
            terms = updated;
        }
        emit purchaseInfoUpdated(address(this));
    }

    /// @dev Called by the factory for its seller.
    function setContractDeleted(bool _isDeleted) external onlyCloneFactory {
        isDeleted = _isDeleted;
    }

    /// @notice The buyer or validator ends a running contract now; it becomes available again.
    function closeEarly(CloseReason reason) external {
        require(msg.sender == buyer || msg.sender == validator, "only the buyer or validator can close");
        require(contractState() == ContractState.Running, "contract is not running");
        startingBlockTimestamp = 0;
        applyFutureTerms();
        emit closedEarly(reason);
    }

    function applyFutureTerms() private {
        if (futureTerms._version != 0) {
            terms = futureTerms;
            delete futureTerms;
            emit purchaseInfoUpdated(address(this));
        }
    }
}
