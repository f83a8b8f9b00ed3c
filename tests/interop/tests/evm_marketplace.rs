//! Our test marketplace on a real anvil chain, driven the way sellers and buyers drive Lumerin's:
//! what the node will read after each step (`getPublicVariablesV2`, the getters, the logs), and
//! that stopping and restarting anvil keeps the chain, its clock and its contracts.

use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, TransactionReceipt};
use alloy::sol_types::SolEvent;
use contracts::abi::{CloneFactory, CloseReason, ContractState, Implementation};
use interop::evm::CHAIN_ID;
use interop::{free_port, wait_until, Anvil, Marketplace, DEV_ACCOUNTS};

const WAIT: Duration = Duration::from_secs(20);
const SPEED_A: u64 = 100_000_000_000_000; // 100 TH/s
const LENGTH_A: u64 = 3600;
const SPEED_B: u64 = 50_000_000_000_000;
const LENGTH_B: u64 = 600;
const PUB_KEY: &str = "04seller-public-key";

fn state(vars: &Implementation::getPublicVariablesV2Return) -> ContractState {
    ContractState::from_u8(vars._state).unwrap()
}

/// `result` is a refusal carrying the contract's revert `reason`.
fn assert_refused(result: Result<TransactionReceipt, String>, reason: &str, what: &str) {
    match result {
        Ok(receipt) => panic!("{what}, but it was mined: {receipt:?}"),
        Err(e) => assert!(e.contains(reason), "{what}: expected {reason:?} in {e}"),
    }
}

/// The events `T` that `emitter` logged in `receipt`.
fn events<T: SolEvent>(receipt: &TransactionReceipt, emitter: Address) -> Vec<T> {
    receipt
        .inner
        .logs()
        .iter()
        .filter(|log| log.address() == emitter)
        .filter_map(|log| T::decode_log(&log.inner).ok().map(|l| l.data))
        .collect()
}

#[tokio::test]
async fn the_marketplace_lifecycle_reads_as_on_lumerin_and_survives_a_restart() {
    let mut anvil = Anvil::start(free_port(), None).await;
    let seller = DEV_ACCOUNTS[1].address;
    let buyer = DEV_ACCOUNTS[2].address;
    let validator = DEV_ACCOUNTS[3].address;
    let market = Marketplace::deploy(&anvil, DEV_ACCOUNTS[0].address).await;

    // Two contracts for one seller.
    let a = market
        .create_contract(seller, SPEED_A, LENGTH_A, PUB_KEY)
        .await;
    let b = market
        .create_contract(seller, SPEED_B, LENGTH_B, PUB_KEY)
        .await;
    assert_ne!(a, b);
    assert_eq!(market.contract_list().await, vec![a, b]);
    let fresh = market.read(a).await;
    assert_eq!(state(&fresh), ContractState::Available);
    assert_eq!(fresh._seller, seller);
    assert_eq!(fresh._buyer, Address::ZERO);
    assert_eq!(fresh._terms._speed, U256::from(SPEED_A));
    assert_eq!(fresh._terms._length, U256::from(LENGTH_A));
    assert_eq!(fresh._terms._version, 0);
    assert_eq!(fresh._startingBlockTimestamp, U256::ZERO);
    assert!(!fresh._isDeleted && !fresh._hasFutureTerms);
    assert_eq!(
        market.call(a, &Implementation::pubKeyCall {}).await,
        PUB_KEY
    );

    // A purchase: Running from its block's timestamp, with the buyer's encrypted strings.
    let receipt = market
        .purchase(a, buyer, "enc-validator-1", "enc-dest-1", Address::ZERO)
        .await;
    let purchased_at = anvil.block_timestamp(receipt.block_number.unwrap()).await;
    let bought: Vec<CloneFactory::clonefactoryContractPurchased> =
        events(&receipt, market.factory());
    assert_eq!(bought.len(), 1);
    assert_eq!(
        (bought[0]._address, bought[0]._validator),
        (a, Address::ZERO)
    );
    let purchased: Vec<Implementation::contractPurchased> = events(&receipt, a);
    assert_eq!(purchased.len(), 1, "the contract logs its purchase");
    let running = market.read(a).await;
    assert_eq!(state(&running), ContractState::Running);
    assert_eq!(running._buyer, buyer);
    assert_eq!(running._startingBlockTimestamp, U256::from(purchased_at));
    assert_eq!(running._terms._speed, U256::from(SPEED_A));
    assert_eq!(running._terms._length, U256::from(LENGTH_A));
    assert_eq!(running._encryptedPoolData, "enc-validator-1");
    assert_eq!(
        market.call(a, &Implementation::encrDestURLCall {}).await,
        "enc-dest-1"
    );
    assert_eq!(state(&market.read(b).await), ContractState::Available);

    // What the real marketplace refuses, ours refuses.
    let again = market
        .try_transact(
            buyer,
            market.factory(),
            &CloneFactory::setPurchaseRentalContractV2Call {
                _contractAddress: a,
                _validatorAddress: Address::ZERO,
                _encrValidatorURL: String::new(),
                _encrDestURL: String::new(),
                termsVersion: 0,
            },
        )
        .await;
    assert_refused(
        again,
        "contract is not available",
        "a running contract cannot be bought again",
    );
    let own = market
        .try_transact(
            seller,
            market.factory(),
            &CloneFactory::setPurchaseRentalContractV2Call {
                _contractAddress: b,
                _validatorAddress: Address::ZERO,
                _encrValidatorURL: String::new(),
                _encrDestURL: String::new(),
                termsVersion: 0,
            },
        )
        .await;
    assert_refused(
        own,
        "cannot purchase your own contract",
        "a seller cannot buy their own contract",
    );

    // The buyer moves it.
    let receipt = market
        .set_destination(a, buyer, "enc-validator-2", "enc-dest-2")
        .await;
    let moved: Vec<Implementation::destinationUpdated> = events(&receipt, a);
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].newValidatorURL, "enc-validator-2");
    assert_eq!(moved[0].newDestURL, "enc-dest-2");
    assert_eq!(market.read(a).await._encryptedPoolData, "enc-validator-2");
    let stranger = market
        .try_transact(
            validator,
            a,
            &Implementation::setDestinationCall {
                _encrValidatorURL: String::new(),
                _encrDestURL: String::new(),
            },
        )
        .await;
    assert_refused(
        stranger,
        "only the buyer can change the destination",
        "only the buyer sets the destination",
    );

    // New terms while running wait for the next purchase or close.
    let receipt = market.update_terms(a, seller, SPEED_B, LENGTH_B).await;
    assert_eq!(
        events::<CloneFactory::purchaseInfoUpdated>(&receipt, market.factory()).len(),
        1
    );
    assert_eq!(
        events::<Implementation::purchaseInfoUpdated>(&receipt, a).len(),
        1
    );
    let pending = market.read(a).await;
    assert!(pending._hasFutureTerms);
    assert_eq!(pending._terms._speed, U256::from(SPEED_A));
    assert_eq!(market.purchasable_version(a).await, 1);

    // An early close makes it Available at once and applies the future terms.
    let receipt = market
        .close_early(a, buyer, CloseReason::Underdelivery)
        .await;
    let closed: Vec<Implementation::closedEarly> = events(&receipt, a);
    assert_eq!(closed.len(), 1);
    assert_eq!(
        CloseReason::from_u8(closed[0]._reason),
        Some(CloseReason::Underdelivery)
    );
    let after_close = market.read(a).await;
    assert_eq!(state(&after_close), ContractState::Available);
    assert_eq!(after_close._startingBlockTimestamp, U256::ZERO);
    assert!(!after_close._hasFutureTerms);
    assert_eq!(after_close._terms._speed, U256::from(SPEED_B));
    assert_eq!(after_close._terms._version, 1);

    // A purchase with a validator ends by itself once the chain's clock passes its length.
    let receipt = market
        .purchase(b, buyer, "enc-validator-b", "enc-dest-b", validator)
        .await;
    let start_b = anvil.block_timestamp(receipt.block_number.unwrap()).await;
    assert_eq!(state(&market.read(b).await), ContractState::Running);
    assert_eq!(
        market.call(b, &Implementation::validatorCall {}).await,
        validator
    );
    anvil.increase_time(LENGTH_B).await;
    anvil.mine().await;
    assert!(anvil.latest_timestamp().await >= start_b + LENGTH_B);
    let expired = market.read(b).await;
    assert_eq!(state(&expired), ContractState::Available);
    assert_eq!(
        expired._startingBlockTimestamp,
        U256::from(start_b),
        "expiry keeps the start, unlike an early close"
    );

    // Deleting stops new purchases.
    let receipt = market.set_deleted(&[b], seller, true).await;
    let deleted: Vec<CloneFactory::contractDeleteUpdated> = events(&receipt, market.factory());
    assert_eq!(deleted.len(), 1);
    assert_eq!((deleted[0]._address, deleted[0]._isDeleted), (b, true));
    assert!(market.read(b).await._isDeleted);
    let bought_deleted = market
        .try_transact(
            buyer,
            market.factory(),
            &CloneFactory::setPurchaseRentalContractV2Call {
                _contractAddress: b,
                _validatorAddress: Address::ZERO,
                _encrValidatorURL: String::new(),
                _encrDestURL: String::new(),
                termsVersion: 0,
            },
        )
        .await;
    assert_refused(
        bought_deleted,
        "cannot purchase a deleted contract",
        "a deleted contract cannot be bought",
    );

    // Everything survives a stop and restart on the same port: blocks, contracts, logs, clock.
    let logs_filter = Filter::new()
        .address(vec![market.factory(), a, b])
        .from_block(0);
    let logs_before = anvil.provider().get_logs(&logs_filter).await.unwrap();
    let block_before = anvil.block_number().await;
    let time_before = anvil.latest_timestamp().await;
    let (a_before, b_before) = (market.read(a).await, market.read(b).await);
    anvil.stop().await;
    assert!(!anvil.is_running());
    assert!(
        anvil.provider().get_block_number().await.is_err(),
        "nothing answers while stopped"
    );
    anvil.restart().await;
    assert_eq!(anvil.provider().get_chain_id().await.unwrap(), CHAIN_ID);
    assert!(anvil.block_number().await >= block_before);
    let market = Marketplace::at(&anvil, market.factory());
    assert_eq!(market.contract_list().await, vec![a, b]);
    assert_eq!(market.read(a).await, a_before);
    assert_eq!(market.read(b).await, b_before);
    let logs_after = anvil.provider().get_logs(&logs_filter).await.unwrap();
    assert_eq!(logs_after, logs_before, "past logs are kept");

    // The chain goes on from where it was, its clock never going back.
    let receipt = market
        .purchase(a, buyer, "enc-validator-3", "enc-dest-3", Address::ZERO)
        .await;
    let block = receipt.block_number.unwrap();
    assert!(block > block_before);
    assert!(anvil.block_timestamp(block).await > time_before);
    assert_eq!(state(&market.read(a).await), ContractState::Running);
}

#[tokio::test]
async fn dev_accounts_are_anvils_and_interval_mining_resumes_after_a_restart() {
    let mut anvil = Anvil::start(free_port(), Some(1)).await;
    let accounts = anvil.provider().get_accounts().await.unwrap();
    let expected: Vec<Address> = DEV_ACCOUNTS.iter().map(|a| a.address).collect();
    assert_eq!(accounts[..DEV_ACCOUNTS.len()], expected[..]);
    // anvil prints its keys in the same order.
    let log = anvil.log();
    let mut at = 0;
    for account in DEV_ACCOUNTS {
        let found = log[at..].find(account.private_key);
        assert!(
            found.is_some(),
            "anvil did not print {}",
            account.private_key
        );
        at += found.unwrap();
    }

    let first = anvil.block_number().await;
    assert!(
        wait_until(WAIT, || async { anvil.block_number().await >= first + 2 }).await,
        "a block a second"
    );

    // Far ahead of the wall clock, then restarted: the clock must not go back.
    anvil.increase_time(100_000).await;
    anvil.mine().await;
    let ahead = anvil.latest_timestamp().await;
    anvil.restart().await;
    let resumed = anvil.block_number().await;
    assert!(
        wait_until(WAIT, || async { anvil.block_number().await >= resumed + 2 }).await,
        "interval mining resumes after the restart"
    );
    assert!(anvil.latest_timestamp().await > ahead);
}
