use mining_sv2::{
    OpenExtendedMiningChannelOwned as OpenExtendedMiningChannel, SetCustomMiningJobOwned,
    SubmitSharesExtendedOwned as SubmitSharesExtended, SubmitSharesSuccess,
};
use std::time::{Duration, Instant};
use sv2_conn::{
    accept, connect, keys, AnyMessage, AnyMessageOwned, ConnError, Mining, MiningOwned,
    ResponderKeys,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const T: Duration = Duration::from_secs(5);

fn fresh_keys() -> ResponderKeys {
    let kp = keys::generate();
    ResponderKeys {
        public: kp.public,
        secret: kp.secret,
        cert_validity: Duration::from_secs(3600),
    }
}

async fn listener() -> (TcpListener, std::net::SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

#[tokio::test]
async fn round_trip_mining_messages() {
    let keys = fresh_keys();
    let (l, addr) = listener().await;
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let (mut rd, mut wr) = accept(s, &keys, T).await.unwrap();
        let mut got = Vec::new();
        for _ in 0..2 {
            got.push(rd.read().await.unwrap());
        }
        wr.write(AnyMessage::Mining(Mining::SubmitSharesSuccess(
            SubmitSharesSuccess {
                channel_id: 7,
                last_sequence_number: 41,
                new_submits_accepted_count: 3,
                new_shares_sum: 99,
            },
        )))
        .await
        .unwrap();
        got
    });
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = connect(s, Some(keys.public), T).await.unwrap();
    let open = OpenExtendedMiningChannel {
        request_id: 5,
        user_identity: "alice.worker1".try_into().unwrap(),
        nominal_hash_rate: 1.0e12,
        max_target: [0xffu8; 32].into(),
        min_extranonce_size: 8,
    };
    wr.write(AnyMessageOwned::Mining(
        MiningOwned::OpenExtendedMiningChannel(open),
    ))
    .await
    .unwrap();
    let share = SubmitSharesExtended {
        channel_id: 7,
        sequence_number: 41,
        job_id: 3,
        nonce: 0xdeadbeef,
        ntime: 1_700_000_000,
        version: 0x2000_0000,
        extranonce: vec![1u8, 2, 3, 4, 5, 6, 7, 8].try_into().unwrap(),
    };
    wr.write(MiningOwned::SubmitSharesExtended(share))
        .await
        .unwrap();
    match rd.read().await.unwrap() {
        AnyMessageOwned::Mining(MiningOwned::SubmitSharesSuccess(m)) => {
            assert_eq!(
                (
                    m.channel_id,
                    m.last_sequence_number,
                    m.new_submits_accepted_count,
                    m.new_shares_sum
                ),
                (7, 41, 3, 99)
            );
        }
        other => panic!("unexpected {other}"),
    }
    let got = server.await.unwrap();
    match &got[0] {
        AnyMessageOwned::Mining(MiningOwned::OpenExtendedMiningChannel(m)) => {
            assert_eq!(m.request_id, 5);
            assert_eq!(m.user_identity.as_utf8_or_hex(), "alice.worker1");
            assert_eq!(m.min_extranonce_size, 8);
            assert_eq!(m.max_target.as_bytes(), &[0xffu8; 32]);
        }
        other => panic!("unexpected {other}"),
    }
    match &got[1] {
        AnyMessageOwned::Mining(MiningOwned::SubmitSharesExtended(m)) => {
            assert_eq!(
                (m.channel_id, m.sequence_number, m.job_id, m.nonce),
                (7, 41, 3, 0xdeadbeef)
            );
            assert_eq!(m.extranonce.as_bytes(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        }
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test]
async fn wrong_authority_key_is_rejected() {
    let keys = fresh_keys();
    let other = keys::generate();
    let (l, addr) = listener().await;
    tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let _ = accept(s, &keys, T).await;
    });
    let s = TcpStream::connect(addr).await.unwrap();
    let err = connect(s, Some(other.public), T).await.unwrap_err();
    assert!(matches!(err, ConnError::AuthorityMismatch), "got {err:?}");
}

#[tokio::test]
async fn no_authority_accepts_any_server() {
    let keys = fresh_keys();
    let (l, addr) = listener().await;
    tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let (_rd, mut wr) = accept(s, &keys, T).await.unwrap();
        wr.write(Mining::SubmitSharesSuccess(SubmitSharesSuccess {
            channel_id: 1,
            last_sequence_number: 2,
            new_submits_accepted_count: 3,
            new_shares_sum: 4,
        }))
        .await
        .unwrap();
    });
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut rd, _wr) = connect(s, None, T).await.unwrap();
    assert!(matches!(
        rd.read().await.unwrap(),
        AnyMessageOwned::Mining(MiningOwned::SubmitSharesSuccess(_))
    ));
}

fn garbage(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(37).wrapping_add(11))
        .collect()
}

#[tokio::test]
async fn responder_errors_on_garbage_within_timeout() {
    let keys = fresh_keys();
    let (l, addr) = listener().await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    let (s, _) = l.accept().await.unwrap();
    client.write_all(&garbage(400)).await.unwrap();
    let timeout = Duration::from_secs(2);
    let start = Instant::now();
    // NX accepts any 64 bytes as an ephemeral key, so garbage surfaces at the first frame.
    let result = tokio::time::timeout(timeout * 2, async {
        let (mut rd, _wr) = accept(s, &keys, timeout).await?;
        tokio::time::timeout(timeout, rd.read())
            .await
            .map_err(|_| ConnError::Closed)?
    })
    .await
    .expect("must not hang");
    let err = result.unwrap_err();
    assert!(
        !matches!(err, ConnError::Closed),
        "expected a decode error, got {err:?}"
    );
    assert!(start.elapsed() < timeout, "took {:?}", start.elapsed());
}

#[tokio::test]
async fn initiator_errors_on_garbage_responder() {
    let (l, addr) = listener().await;
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut first = [0u8; 64];
        s.read_exact(&mut first).await.unwrap();
        s.write_all(&garbage(234)).await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let s = TcpStream::connect(addr).await.unwrap();
    let err = connect(s, None, Duration::from_secs(2)).await.unwrap_err();
    assert!(
        matches!(err, ConnError::Codec(_) | ConnError::Handshake(_)),
        "got {err:?}"
    );
}

#[tokio::test]
async fn silent_peer_times_out() {
    let keys = fresh_keys();
    let (l, addr) = listener().await;
    let _client = TcpStream::connect(addr).await.unwrap();
    let (s, _) = l.accept().await.unwrap();
    let timeout = Duration::from_millis(300);
    let start = Instant::now();
    let err = accept(s, &keys, timeout).await.unwrap_err();
    assert!(matches!(err, ConnError::HandshakeTimeout(_)), "got {err:?}");
    assert!(start.elapsed() >= timeout && start.elapsed() < Duration::from_secs(3));

    // And the initiator side against a server that never answers.
    let (l2, addr2) = listener().await;
    let s = TcpStream::connect(addr2).await.unwrap();
    let _held = l2.accept().await.unwrap();
    let err = connect(s, None, timeout).await.unwrap_err();
    assert!(matches!(err, ConnError::HandshakeTimeout(_)), "got {err:?}");
}

#[tokio::test]
async fn frame_size_is_bounded() {
    let keys = fresh_keys();
    let (l, addr) = listener().await;
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let (mut rd, _wr) = accept(s, &keys, T).await.unwrap();
        let first = rd.read().await;
        rd.set_max_payload(1000);
        (first, rd.read().await)
    });
    let s = TcpStream::connect(addr).await.unwrap();
    let (_rd, mut wr) = connect(s, Some(keys.public), T).await.unwrap();
    let big = SetCustomMiningJobOwned {
        channel_id: 1,
        request_id: 1,
        token: vec![0u8; 10].try_into().unwrap(),
        version: 0,
        prev_hash: [0u8; 32].into(),
        min_ntime: 0,
        nbits: 0,
        coinbase_tx_version: 2,
        coinbase_prefix: vec![0u8; 200].try_into().unwrap(),
        coinbase_tx_input_n_sequence: 0,
        coinbase_tx_outputs: vec![0u8; 60_000].try_into().unwrap(),
        coinbase_tx_locktime: 0,
        merkle_path: Vec::new().try_into().unwrap(),
    };
    // 60 kB is below the default limit and goes through; the same frame is refused once the
    // reader's limit is 1000 bytes.
    wr.write(MiningOwned::SetCustomMiningJob(big.clone()))
        .await
        .unwrap();
    wr.write(MiningOwned::SetCustomMiningJob(big))
        .await
        .unwrap();
    let (first, second) = server.await.unwrap();
    assert!(matches!(
        first.unwrap(),
        AnyMessageOwned::Mining(MiningOwned::SetCustomMiningJob(_))
    ));
    assert!(
        matches!(second, Err(ConnError::FrameTooLarge { limit: 1000 })),
        "got {second:?}"
    );
}

#[tokio::test]
async fn writers_and_readers_can_be_raised_for_multi_megabyte_messages() {
    use job_declaration_sv2::ProvideMissingTransactionsSuccessOwned;
    use parsers_sv2::JobDeclarationOwned;
    const LIMIT: usize = 4 * 1024 * 1024;
    let keys = fresh_keys();
    let (l, addr) = listener().await;
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let (mut rd, _wr) = accept(s, &keys, T).await.unwrap();
        rd.set_max_payload(LIMIT);
        rd.read().await
    });
    let s = TcpStream::connect(addr).await.unwrap();
    let (_rd, mut wr) = connect(s, Some(keys.public), T).await.unwrap();
    // Three 400 kB transactions: what answering a JDS's ProvideMissingTransactions may take.
    let transactions: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i; 400_000]).collect();
    let message = || {
        JobDeclarationOwned::ProvideMissingTransactionsSuccess(
            ProvideMissingTransactionsSuccessOwned {
                request_id: 7,
                transaction_list: transactions
                    .iter()
                    .map(|t| t.clone().try_into().unwrap())
                    .collect::<Vec<_>>()
                    .try_into()
                    .unwrap(),
            },
        )
    };
    let refused = wr.write(message()).await;
    assert!(
        matches!(refused, Err(ConnError::FrameTooLarge { .. })),
        "the default limit holds: {refused:?}"
    );
    wr.set_max_payload(LIMIT);
    wr.write(message()).await.unwrap();
    let Ok(AnyMessageOwned::JobDeclaration(
        JobDeclarationOwned::ProvideMissingTransactionsSuccess(received),
    )) = server.await.unwrap()
    else {
        panic!("no transactions received");
    };
    let received: Vec<Vec<u8>> = received
        .transaction_list
        .into_inner()
        .into_iter()
        .map(|t| t.as_bytes().to_vec())
        .collect();
    assert_eq!(received, transactions);
}

#[tokio::test]
async fn generated_keys_parse_back_and_handshake() {
    let kp = keys::generate();
    let (pubs, secs) = (kp.public_string(), kp.secret_string());
    let keys = ResponderKeys::from_strings(&pubs, &secs, Duration::from_secs(60)).unwrap();
    assert_eq!(keys.public.into_bytes(), kp.public.into_bytes());
    assert_eq!(keys.secret.into_bytes(), kp.secret.into_bytes());
    // A mismatched pair is refused.
    let other = keys::generate();
    assert!(matches!(
        ResponderKeys::from_strings(&pubs, &other.secret_string(), Duration::from_secs(60)),
        Err(ConnError::InvalidKey(_))
    ));
    let authority: sv2_conn::Secp256k1PublicKey = pubs.parse().unwrap();
    let (l, addr) = listener().await;
    tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let (mut rd, _wr) = accept(s, &keys, T).await.unwrap();
        let _ = rd.read().await;
    });
    let s = TcpStream::connect(addr).await.unwrap();
    connect(s, Some(authority), T).await.unwrap();
}
