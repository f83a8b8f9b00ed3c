// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.20;

import {Implementation} from "./Implementation.sol";

/// @title CloneFactory (hashrouter test double)
/// @notice Creates and lists hashrate contracts on a local chain, exposing the subset of the
/// Lumerin spot marketplace's CloneFactory ABI that hashrouter reads and its tests drive. Unlike
/// the real factory, anyone may sell (no registration or stake), contracts are plain
/// `new Implementation(...)` deployments rather than beacon proxies, and nothing is paid.
contract CloneFactory {
    address[] private rentalContracts;
    mapping(address => bool) private isRentalContract;

    event contractCreated(address indexed _address, string _pubkey);
    event clonefactoryContractPurchased(address indexed _address, address indexed _validator);
    event contractDeleteUpdated(address _address, bool _isDeleted);
    event purchaseInfoUpdated(address indexed _address);

    modifier knownContract(address _contractAddress) {
        require(isRentalContract[_contractAddress], "unknown contract address");
        _;
    }

    /// @notice Creates a contract selling `_speed` H/s for `_length` seconds, with the caller as
    /// seller. The unnamed parameters are unused, as on the real factory.
    function setCreateNewRentalContractV2(
        uint256,
        uint256,
        uint256 _speed,
        uint256 _length,
        int8 _profitTarget,
        address,
        string calldata _pubKey
    ) external payable returns (address) {
        address created = address(new Implementation(msg.sender, _pubKey, _speed, _length, _profitTarget));
        rentalContracts.push(created);
        isRentalContract[created] = true;
        emit contractCreated(created, _pubKey);
        return created;
    }

    /// @notice Buys an available contract for the caller. `termsVersion` must name the terms the
    /// purchase will run with: the future terms if there are any, else the current ones.
    function setPurchaseRentalContractV2(
        address _contractAddress,
        address _validatorAddress,
        string calldata _encrValidatorURL,
        string calldata _encrDestURL,
        uint32 termsVersion
    ) external payable knownContract(_contractAddress) {
        Implementation target = Implementation(_contractAddress);
        require(!target.isDeleted(), "cannot purchase a deleted contract");
        require(target.seller() != msg.sender, "cannot purchase your own contract");
        (,,,, uint32 version,) = target.futureTerms();
        if (version == 0) {
            (,,,, version,) = target.terms();
        }
        require(version == termsVersion, "contract terms were updated");
        emit clonefactoryContractPurchased(_contractAddress, _validatorAddress);
        target.setPurchaseContract(_encrValidatorURL, _encrDestURL, msg.sender, _validatorAddress);
    }

    /// @notice Every contract created here, deleted ones included.
    function getContractList() external view returns (address[] memory) {
        return rentalContracts;
    }

    /// @notice The seller deletes (no longer purchasable) or restores contracts. A running
    /// contract keeps running; deletion only stops new purchases.
    function setContractsDeleted(address[] calldata _contractAddresses, bool _isDeleted) external {
        for (uint256 i = 0; i < _contractAddresses.length; i++) {
            address contractAddress = _contractAddresses[i];
            require(isRentalContract[contractAddress], "unknown contract address");
            Implementation target = Implementation(contractAddress);
            require(msg.sender == target.seller(), "only the seller can delete");
            emit contractDeleteUpdated(contractAddress, _isDeleted);
            target.setContractDeleted(_isDeleted);
        }
    }

    /// @notice The seller changes a contract's terms: at once when available, at the next
    /// purchase or early close when running. The unnamed parameters are unused.
    function setUpdateContractInformationV2(
        address _contractAddress,
        uint256,
        uint256,
        uint256 _speed,
        uint256 _length,
        int8 _profitTarget
    ) external knownContract(_contractAddress) {
        Implementation target = Implementation(_contractAddress);
        require(msg.sender == target.seller(), "only the seller can update terms");
        emit purchaseInfoUpdated(_contractAddress);
        target.setUpdatePurchaseInformation(_speed, _length, _profitTarget);
    }
}
