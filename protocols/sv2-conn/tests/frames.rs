//! The sans-IO frame encoder and decoder on an in-memory Noise handshake.

use std::time::Duration;

use codec_sv2::Handshake;
use mining_sv2::SubmitSharesExtendedOwned;
use noise_sv2::{
    Initiator, Responder, ELLSWIFT_ENCODING_SIZE, INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE,
};
use sv2_conn::{keys, AnyMessageOwned, ConnError, FrameDecoder, FrameEncoder, MiningOwned};

/// An encoder (initiator side) and the responder's decoder after a real handshake.
fn pair() -> (FrameEncoder, FrameDecoder) {
    let authority = keys::generate();
    let initiator = Initiator::from_raw_k(authority.public.into_bytes()).unwrap();
    let responder = Responder::from_authority_kp(
        &authority.public.into_bytes(),
        &authority.secret.into_bytes(),
        Duration::from_secs(60),
    )
    .unwrap();
    let (first, sent) = Handshake::initiator(initiator).step_0().unwrap();
    let first: [u8; ELLSWIFT_ENCODING_SIZE] = first.payload().try_into().unwrap();
    let (reply, responder) = Handshake::responder(responder).step_1(first).unwrap();
    let reply: [u8; INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE] =
        reply.payload().try_into().unwrap();
    let initiator = sent.step_2(reply).unwrap();
    (
        FrameEncoder::new(initiator.split().0),
        FrameDecoder::new(responder.split().1),
    )
}

fn share(sequence_number: u32) -> MiningOwned {
    MiningOwned::SubmitSharesExtended(SubmitSharesExtendedOwned {
        channel_id: 1,
        sequence_number,
        job_id: 9,
        nonce: 0x0102_0304,
        ntime: 1_700_000_000,
        version: 0x2000_0000,
        extranonce: vec![7u8; 12].try_into().unwrap(),
    })
}

fn sequence_number(msg: &AnyMessageOwned) -> u32 {
    match msg {
        AnyMessageOwned::Mining(MiningOwned::SubmitSharesExtended(m)) => m.sequence_number,
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn frames_decode_in_order_whatever_the_read_sizes() {
    for chunk in [1, 7, 64, 1000] {
        let (mut encoder, mut decoder) = pair();
        let mut wire = Vec::new();
        for n in 0..3 {
            wire.extend(encoder.encode(share(n)).unwrap());
        }
        let mut received = Vec::new();
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            received.extend_from_slice(piece);
            while let Some(msg) = decoder.decode(&mut received).unwrap() {
                got.push(sequence_number(&msg));
            }
        }
        assert_eq!(got, [0, 1, 2], "read size {chunk}");
        assert!(received.is_empty());
    }
    // Everything at once: one message per call, the rest left for the next.
    let (mut encoder, mut decoder) = pair();
    let mut received = Vec::new();
    for n in 0..3 {
        received.extend(encoder.encode(share(n)).unwrap());
    }
    assert_eq!(
        sequence_number(&decoder.decode(&mut received).unwrap().unwrap()),
        0
    );
    assert!(!received.is_empty());
    assert_eq!(
        sequence_number(&decoder.decode(&mut received).unwrap().unwrap()),
        1
    );
    assert_eq!(
        sequence_number(&decoder.decode(&mut received).unwrap().unwrap()),
        2
    );
    assert!(decoder.decode(&mut received).unwrap().is_none());
}

#[test]
fn size_limits_apply_on_both_sides() {
    let (mut encoder, mut decoder) = pair();
    encoder.set_max_payload(10);
    assert!(matches!(
        encoder.encode(share(0)),
        Err(ConnError::FrameTooLarge { limit: 10 })
    ));
    encoder.set_max_payload(1024);
    let mut received = encoder.encode(share(1)).unwrap();
    decoder.set_max_payload(10);
    assert!(matches!(
        decoder.decode(&mut received),
        Err(ConnError::FrameTooLarge { limit: 10 })
    ));
    // A failed decoder stays failed.
    assert!(decoder.decode(&mut received).is_err());
}

#[test]
fn tampered_frame_fails() {
    let (mut encoder, mut decoder) = pair();
    let mut received = encoder.encode(share(0)).unwrap();
    let last = received.len() - 1;
    received[last] ^= 1;
    assert!(decoder.decode(&mut received).is_err());
}
