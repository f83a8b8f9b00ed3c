//! The committed artifacts of our Solidity test contracts against the `abi` bindings: every
//! function and event the node uses exists in the compiled ABI with the same selector or topic,
//! return types, and indexed parameters, so the bindings and the test contracts cannot drift
//! apart. Also checks that each artifact was compiled from the source as committed (its
//! `sourceSha256`), which catches an edit without `scripts/compile-contracts.sh` without needing
//! node; the interop test `contract_artifacts` recompiles and compares every byte.

use alloy::primitives::{keccak256, B256};
use alloy::sol_types::{SolCall, SolEvent, SolStruct, SolType, TopicList};
use contracts::abi::{CloneFactory, Implementation};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

const CLONE_FACTORY: &str = include_str!("../artifacts/CloneFactory.json");
const IMPLEMENTATION: &str = include_str!("../artifacts/Implementation.json");
const CLONE_FACTORY_SOL: &[u8] = include_bytes!("../solidity/CloneFactory.sol");
const IMPLEMENTATION_SOL: &[u8] = include_bytes!("../solidity/Implementation.sol");

/// One compiled ABI, keyed by canonical signature (`name(type,...)`).
struct Abi {
    /// Function signature → canonical return tuple, e.g. `(uint8,(uint256,...),...)`.
    functions: HashMap<String, String>,
    /// Event signature → (indexed parameter count, canonical tuple of the other parameters).
    events: HashMap<String, (usize, String)>,
}

/// The canonical ABI type of a JSON ABI parameter: tuples spelled out as `(t1,t2)`, array
/// suffixes kept.
fn canonical(param: &Value) -> String {
    let ty = param["type"].as_str().unwrap();
    match ty.strip_prefix("tuple") {
        Some(suffix) => format!("{}{suffix}", tuple(&param["components"])),
        None => ty.to_string(),
    }
}

fn tuple(params: &Value) -> String {
    let types: Vec<String> = params.as_array().unwrap().iter().map(canonical).collect();
    format!("({})", types.join(","))
}

fn parse(artifact: &str) -> Abi {
    let json: Value = serde_json::from_str(artifact).unwrap();
    let mut abi = Abi {
        functions: HashMap::new(),
        events: HashMap::new(),
    };
    for item in json["abi"].as_array().unwrap() {
        let name = item["name"].as_str().unwrap_or_default();
        let signature = || format!("{name}{}", tuple(&item["inputs"]));
        match item["type"].as_str().unwrap() {
            "function" => {
                abi.functions.insert(signature(), tuple(&item["outputs"]));
            }
            "event" => {
                let inputs = item["inputs"].as_array().unwrap();
                let indexed = inputs.iter().filter(|i| i["indexed"] == true).count();
                let data: Vec<Value> = inputs
                    .iter()
                    .filter(|i| i["indexed"] != true)
                    .cloned()
                    .collect();
                abi.events
                    .insert(signature(), (indexed, tuple(&Value::Array(data))));
            }
            _ => {}
        }
    }
    abi
}

/// A binding's type name in canonical ABI form: `SOL_NAME` spells structs by name (`Terms`), the
/// ABI by their members.
fn binding_canonical(sol_name: &str) -> String {
    // `Terms(uint256 _price,uint256 _fee,...)`, from the binding itself.
    let root = Implementation::Terms::eip712_root_type();
    let members = root
        .trim_start_matches("Terms(")
        .trim_end_matches(')')
        .split(',')
        .map(|member| member.split_whitespace().next().unwrap())
        .collect::<Vec<_>>()
        .join(",");
    sol_name.replace("Terms", &format!("({members})"))
}

fn check_call<C: SolCall>(abi: &Abi) {
    let outputs = abi
        .functions
        .get(C::SIGNATURE)
        .unwrap_or_else(|| panic!("{} is not in the compiled ABI", C::SIGNATURE));
    assert_eq!(
        keccak256(C::SIGNATURE.as_bytes())[..4],
        C::SELECTOR,
        "{}",
        C::SIGNATURE
    );
    assert_eq!(
        *outputs,
        binding_canonical(<C::ReturnTuple<'_> as SolType>::SOL_NAME),
        "return types of {}",
        C::SIGNATURE
    );
}

fn check_event<E: SolEvent>(abi: &Abi) {
    let (indexed, data) = abi
        .events
        .get(E::SIGNATURE)
        .unwrap_or_else(|| panic!("event {} is not in the compiled ABI", E::SIGNATURE));
    assert_eq!(
        keccak256(E::SIGNATURE.as_bytes()),
        E::SIGNATURE_HASH,
        "{}",
        E::SIGNATURE
    );
    // Topic 0 is the signature hash, then one topic per indexed parameter.
    assert_eq!(
        <E::TopicList as TopicList>::COUNT,
        indexed + 1,
        "indexed parameters of {}",
        E::SIGNATURE
    );
    assert_eq!(
        *data,
        binding_canonical(<E::DataTuple<'_> as SolType>::SOL_NAME),
        "data of {}",
        E::SIGNATURE
    );
}

/// Every signature a binding interface declares is in the compiled ABI with the same selector
/// (`[u8; 4]`) or topic (`B256`).
fn check_all_present<S: AsRef<[u8]>>(
    signatures: &[&str],
    selectors: &[S],
    compiled: &HashMap<String, impl Sized>,
) {
    for (signature, selector) in signatures.iter().zip(selectors) {
        assert!(
            compiled.contains_key(*signature),
            "{signature} is not in the compiled ABI"
        );
        let hash = keccak256(signature.as_bytes());
        assert_eq!(
            &hash[..selector.as_ref().len()],
            selector.as_ref(),
            "{signature}"
        );
    }
}

#[test]
fn every_clone_factory_binding_is_in_the_compiled_abi() {
    use CloneFactory::*;
    let abi = parse(CLONE_FACTORY);
    check_all_present(
        CloneFactoryCalls::SIGNATURES,
        CloneFactoryCalls::SELECTORS,
        &abi.functions,
    );
    let topics: Vec<B256> = CloneFactoryEvents::SELECTORS
        .iter()
        .map(|s| B256::from(*s))
        .collect();
    check_all_present(CloneFactoryEvents::SIGNATURES, &topics, &abi.events);

    check_call::<setCreateNewRentalContractV2Call>(&abi);
    check_call::<setPurchaseRentalContractV2Call>(&abi);
    check_call::<setContractsDeletedCall>(&abi);
    check_call::<setUpdateContractInformationV2Call>(&abi);
    check_call::<getContractListCall>(&abi);
    assert_eq!(
        CloneFactoryCalls::SIGNATURES.len(),
        5,
        "a call is not checked above"
    );

    check_event::<contractCreated>(&abi);
    check_event::<clonefactoryContractPurchased>(&abi);
    check_event::<contractDeleteUpdated>(&abi);
    check_event::<purchaseInfoUpdated>(&abi);
    assert_eq!(
        CloneFactoryEvents::SIGNATURES.len(),
        4,
        "an event is not checked above"
    );
}

#[test]
fn every_implementation_binding_is_in_the_compiled_abi() {
    use Implementation::*;
    let abi = parse(IMPLEMENTATION);
    check_all_present(
        ImplementationCalls::SIGNATURES,
        ImplementationCalls::SELECTORS,
        &abi.functions,
    );
    let topics: Vec<B256> = ImplementationEvents::SELECTORS
        .iter()
        .map(|s| B256::from(*s))
        .collect();
    check_all_present(ImplementationEvents::SIGNATURES, &topics, &abi.events);

    check_call::<getPublicVariablesV2Call>(&abi);
    check_call::<termsCall>(&abi);
    check_call::<futureTermsCall>(&abi);
    check_call::<startingBlockTimestampCall>(&abi);
    check_call::<buyerCall>(&abi);
    check_call::<sellerCall>(&abi);
    check_call::<validatorCall>(&abi);
    check_call::<isDeletedCall>(&abi);
    check_call::<pubKeyCall>(&abi);
    check_call::<encrValidatorURLCall>(&abi);
    check_call::<encrDestURLCall>(&abi);
    check_call::<contractStateCall>(&abi);
    check_call::<setDestinationCall>(&abi);
    check_call::<closeEarlyCall>(&abi);
    assert_eq!(
        ImplementationCalls::SIGNATURES.len(),
        14,
        "a call is not checked above"
    );

    check_event::<contractPurchased>(&abi);
    check_event::<closedEarly>(&abi);
    check_event::<purchaseInfoUpdated>(&abi);
    check_event::<destinationUpdated>(&abi);
    check_event::<fundsClaimed>(&abi);
    assert_eq!(
        ImplementationEvents::SIGNATURES.len(),
        5,
        "an event is not checked above"
    );
}

#[test]
fn a_binding_missing_from_the_abi_is_caught() {
    // The checks above must be able to fail: drop one function and one event.
    let mut abi = parse(IMPLEMENTATION);
    abi.functions.remove("closeEarly(uint8)");
    abi.events.remove("destinationUpdated(string,string)");
    let call = std::panic::catch_unwind(|| check_call::<Implementation::closeEarlyCall>(&abi));
    assert!(call.is_err());
    let event =
        std::panic::catch_unwind(|| check_event::<Implementation::destinationUpdated>(&abi));
    assert!(event.is_err());
}

#[test]
fn artifacts_were_compiled_from_the_committed_sources() {
    for (artifact, source, name) in [
        (CLONE_FACTORY, CLONE_FACTORY_SOL, "CloneFactory"),
        (IMPLEMENTATION, IMPLEMENTATION_SOL, "Implementation"),
    ] {
        let json: Value = serde_json::from_str(artifact).unwrap();
        assert_eq!(json["contractName"], name);
        assert_eq!(json["compiler"], "0.8.37");
        assert_eq!(
            json["sourceSha256"].as_str().unwrap(),
            hex::encode(Sha256::digest(source)),
            "{name}.sol changed since its artifact was compiled: run scripts/compile-contracts.sh"
        );
        for field in ["bytecode", "deployedBytecode"] {
            let code = json[field].as_str().unwrap();
            let code = code.strip_prefix("0x").unwrap();
            assert!(code.len() > 100, "{name}.{field} is empty");
            hex::decode(code).unwrap_or_else(|e| panic!("{name}.{field}: {e}"));
        }
    }
}
