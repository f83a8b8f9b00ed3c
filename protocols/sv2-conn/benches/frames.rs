//! The SV2 frame path after the handshake, without a socket: a message framed and encrypted
//! by [`FrameEncoder`] (what `FrameWriter::write` runs), then decrypted and parsed by
//! [`FrameDecoder`] (what `FrameReader::read` runs). The handshake is done once in memory with
//! codec_sv2, outside the timed loops.
//!
//! Groups: `sv2_frame/submit_shares_extended` and `sv2_frame/new_extended_mining_job`, each
//! with `encrypt` (message → wire bytes) and `decrypt` (wire bytes → message).

use std::hint::black_box;
use std::time::Duration;

use binary_sv2::{Seq0255Owned, Sv2OptionOwned, U256Owned};
use codec_sv2::{Handshake, Transport};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use mining_sv2::{NewExtendedMiningJobOwned, SubmitSharesExtendedOwned};
use noise_sv2::{
    Initiator, Responder, ELLSWIFT_ENCODING_SIZE, INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE,
};
use sv2_conn::{keys, AnyMessageOwned, FrameDecoder, FrameEncoder, MiningOwned};

/// A completed Noise NX handshake: (initiator's transport, responder's transport).
fn handshake() -> (Transport, Transport) {
    let authority = keys::generate();
    let initiator = Initiator::from_raw_k(authority.public.into_bytes()).unwrap();
    let responder = Responder::from_authority_kp(
        &authority.public.into_bytes(),
        &authority.secret.into_bytes(),
        Duration::from_secs(3600),
    )
    .unwrap();
    let (first, sent) = Handshake::initiator(initiator).step_0().unwrap();
    let first: [u8; ELLSWIFT_ENCODING_SIZE] = first.payload().try_into().unwrap();
    let (reply, responder_transport) = Handshake::responder(responder).step_1(first).unwrap();
    let reply: [u8; INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE] =
        reply.payload().try_into().unwrap();
    let initiator_transport = sent.step_2(reply).unwrap();
    (initiator_transport, responder_transport)
}

/// The node's share to its pool: 12 bytes of extranonce (device id + rolled part).
fn submit() -> SubmitSharesExtendedOwned {
    SubmitSharesExtendedOwned {
        channel_id: 3,
        sequence_number: 812_344,
        job_id: 1_447,
        nonce: 0x9c3a_11f0,
        ntime: 1_732_412_345,
        version: 0x2000_4000,
        extranonce: vec![0, 0, 0, 7, 0, 0, 0, 0, 0, 1, 0x2c, 0x5e]
            .try_into()
            .unwrap(),
    }
}

/// A pool's job: 12 merkle branches and a ~200-byte coinbase split around the extranonce.
fn extended_job() -> NewExtendedMiningJobOwned {
    let merkle_path: Vec<U256Owned> = (0..12u8)
        .map(|i| U256Owned::from([i.wrapping_mul(37).wrapping_add(1); 32]))
        .collect();
    NewExtendedMiningJobOwned {
        channel_id: 3,
        job_id: 1_448,
        min_ntime: Sv2OptionOwned::new(None),
        version: 0x2000_0000,
        version_rolling_allowed: true,
        merkle_path: Seq0255Owned::new(merkle_path).unwrap(),
        coinbase_tx_prefix: (0..80u8).collect::<Vec<u8>>().try_into().unwrap(),
        coinbase_tx_suffix: (0..110u8).rev().collect::<Vec<u8>>().try_into().unwrap(),
    }
}

/// Times encrypting `message` and decrypting the resulting frame, after checking once that the
/// round trip gives back what `same` expects.
fn bench_message(
    c: &mut Criterion,
    name: &str,
    message: MiningOwned,
    same: impl Fn(&AnyMessageOwned) -> bool,
) {
    let (initiator, responder) = handshake();
    let (send, _) = initiator.split();
    let (_, receive) = responder.split();
    let mut encoder = FrameEncoder::new(send);
    let mut decoder = FrameDecoder::new(receive);

    let wire = encoder.encode(message.clone()).unwrap();
    let mut received = wire.clone();
    let decoded = decoder.decode(&mut received).unwrap().unwrap();
    assert!(same(&decoded), "round trip changed the message: {decoded}");
    assert!(received.is_empty());

    let mut group = c.benchmark_group(format!("sv2_frame/{name}"));
    group.bench_function("encrypt", |b| {
        // The clone is the caller's (the node builds a fresh message per share); not timed.
        b.iter_batched(
            || message.clone(),
            |m| black_box(encoder.encode(m).unwrap()),
            BatchSize::SmallInput,
        )
    });
    // Frames decrypt only in the order they were encrypted (the Noise nonce advances), so each
    // sample gets a fresh handshake pair, encrypts its frames first and times only decryption.
    group.bench_function("decrypt", |b| {
        b.iter_custom(|iterations| {
            let (initiator, responder) = handshake();
            let (send, _) = initiator.split();
            let (_, receive) = responder.split();
            let mut encoder = FrameEncoder::new(send);
            let mut decoder = FrameDecoder::new(receive);
            let frames: Vec<Vec<u8>> = (0..iterations)
                .map(|_| encoder.encode(message.clone()).unwrap())
                .collect();
            let start = std::time::Instant::now();
            for mut frame in frames {
                black_box(decoder.decode(&mut frame).unwrap());
            }
            start.elapsed()
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let share = submit();
    bench_message(
        c,
        "submit_shares_extended",
        MiningOwned::SubmitSharesExtended(share.clone()),
        |m| match m {
            AnyMessageOwned::Mining(MiningOwned::SubmitSharesExtended(got)) => {
                (got.channel_id, got.sequence_number, got.job_id, got.nonce)
                    == (
                        share.channel_id,
                        share.sequence_number,
                        share.job_id,
                        share.nonce,
                    )
                    && (got.ntime, got.version) == (share.ntime, share.version)
                    && got.extranonce.as_bytes() == share.extranonce.as_bytes()
            }
            _ => false,
        },
    );
    let job = extended_job();
    bench_message(
        c,
        "new_extended_mining_job",
        MiningOwned::NewExtendedMiningJob(job.clone()),
        |m| match m {
            AnyMessageOwned::Mining(MiningOwned::NewExtendedMiningJob(got)) => {
                (got.channel_id, got.job_id, got.version)
                    == (job.channel_id, job.job_id, job.version)
                    && got.min_ntime.clone().into_inner() == job.min_ntime.clone().into_inner()
                    && got.version_rolling_allowed == job.version_rolling_allowed
                    && got.merkle_path.clone().into_inner() == job.merkle_path.clone().into_inner()
                    && got.coinbase_tx_prefix.as_bytes() == job.coinbase_tx_prefix.as_bytes()
                    && got.coinbase_tx_suffix.as_bytes() == job.coinbase_tx_suffix.as_bytes()
            }
            _ => false,
        },
    );
}

criterion_group!(frames, benches);
criterion_main!(frames);
