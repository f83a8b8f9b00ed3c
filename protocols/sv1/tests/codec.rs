//! Round trips and error cases for every message, both directions.

use std::borrow::Cow;

use sv1::encode::client::{self as cenc, ConfigureRequest, RawSubmit};
use sv1::encode::server::{self as senc, ConfigureResult, NotifyParams};
use sv1::{
    parse_client, parse_server, ClientMessage, Extranonce2, Id, ServerMessage, Submit, Sv1Error,
};

fn client(line: &str) -> ClientMessage<'_> {
    parse_client(line.as_bytes()).unwrap().message
}

fn strip(out: &[u8]) -> &[u8] {
    assert_eq!(out.last(), Some(&b'\n'), "encoders write complete lines");
    &out[..out.len() - 1]
}

#[test]
fn subscribe_variants() {
    assert_eq!(
        client(r#"{"id":1,"method":"mining.subscribe","params":["bmminer/2.0.0"]}"#),
        ClientMessage::Subscribe {
            user_agent: Some("bmminer/2.0.0".into()),
            session_id: None
        }
    );
    assert_eq!(
        client(r#"{"id":1,"method":"mining.subscribe","params":["cgminer/4.11.1","01000a3f"]}"#),
        ClientMessage::Subscribe {
            user_agent: Some("cgminer/4.11.1".into()),
            session_id: Some("01000a3f".into())
        }
    );
    for line in [
        r#"{"id":1,"method":"mining.subscribe","params":[]}"#,
        r#"{"id":1,"method":"mining.subscribe"}"#,
        r#"{"id":1,"method":"mining.subscribe","params":null}"#,
    ] {
        assert_eq!(
            client(line),
            ClientMessage::Subscribe {
                user_agent: None,
                session_id: None
            }
        );
    }
    let mut out = Vec::new();
    cenc::subscribe(&mut out, &Id::from(7), Some("ua \"x\""), Some("s1"));
    let req = parse_client(strip(&out)).unwrap();
    assert_eq!(req.id, Id::from(7));
    assert_eq!(
        req.message,
        ClientMessage::Subscribe {
            user_agent: Some("ua \"x\"".into()),
            session_id: Some("s1".into())
        }
    );
}

#[test]
fn strings_borrow_from_the_line_unless_escaped() {
    let line = r#"{"id":"a","method":"mining.authorize","params":["bc1q.w\u0031","x"]}"#;
    let ClientMessage::Authorize { user, password } = client(line) else {
        panic!()
    };
    assert!(matches!(user, Cow::Owned(ref s) if s == "bc1q.w1"));
    assert!(matches!(password, Some(Cow::Borrowed("x"))));
}

#[test]
fn authorize_and_ids() {
    let req = parse_client(
        br#"{"id":null,"method":"mining.authorize","params":["satoshi@getalby.com.rig1","x"]}"#,
    )
    .unwrap();
    assert_eq!(req.id, Id::Null);
    assert_eq!(
        req.message,
        ClientMessage::Authorize {
            user: "satoshi@getalby.com.rig1".into(),
            password: Some("x".into())
        }
    );
    let req =
        parse_client(br#"{"id":"auth-2","method":"mining.authorize","params":["u"]}"#).unwrap();
    assert_eq!(req.id, Id::String("auth-2".into()));
    assert_eq!(
        req.message,
        ClientMessage::Authorize {
            user: "u".into(),
            password: None
        }
    );
    // Ids echo exactly in responses.
    for (id, expected) in [
        (Id::Null, r#"{"id":null,"result":true,"error":null}"#),
        (
            Id::from(18446744073709551615),
            r#"{"id":18446744073709551615,"result":true,"error":null}"#,
        ),
        (
            Id::String("a\"b".into()),
            r#"{"id":"a\"b","result":true,"error":null}"#,
        ),
    ] {
        let mut out = Vec::new();
        senc::result_bool(&mut out, &id, true);
        assert_eq!(strip(&out), expected.as_bytes());
        let ServerMessage::Response(resp) = parse_server(strip(&out)).unwrap() else {
            panic!()
        };
        assert_eq!(resp.id, id);
        assert!(resp.is_true());
    }
    let err = parse_client(br#"{"id":[1],"method":"mining.authorize","params":["u"]}"#);
    assert!(matches!(err, Err(Sv1Error::InvalidId)));
    let err = parse_client(br#"{"id":1,"method":"mining.authorize","params":[5]}"#);
    assert!(matches!(err, Err(Sv1Error::InvalidParam { index: 0, .. })));
    let err = parse_client(br#"{"id":1,"method":"mining.authorize","params":[]}"#);
    assert!(matches!(err, Err(Sv1Error::MissingParam { index: 0, .. })));
}

#[test]
fn configure_full_and_unknown_extensions() {
    let line = r#"{"id":1,"method":"mining.configure","params":[["version-rolling","minimum-difficulty","subscribe-extranonce","info","lmr"],{"version-rolling.mask":"1FFFE000","version-rolling.min-bit-count":16,"minimum-difficulty.value":2048.5,"info.connection-url":"pool:3333","info.hw-version":"S19","info.sw-version":"bos 23","info.hw-id":"abc","lmr.contract-address":"0xdead"}]}"#;
    let ClientMessage::Configure(c) = client(line) else {
        panic!()
    };
    let vr = c.version_rolling.unwrap();
    assert_eq!((vr.mask, vr.min_bit_count), (Some(0x1fffe000), Some(16)));
    assert_eq!(c.minimum_difficulty, Some(2048.5));
    assert!(c.subscribe_extranonce);
    let info = c.info.clone().unwrap();
    assert_eq!(info.connection_url.as_deref(), Some("pool:3333"));
    assert_eq!(info.hw_id.as_deref(), Some("abc"));
    assert_eq!(c.unknown_extensions().collect::<Vec<_>>(), vec!["lmr"]);

    let ClientMessage::Configure(c) =
        client(r#"{"id":2,"method":"mining.configure","params":[["version-rolling"]]}"#)
    else {
        panic!()
    };
    assert_eq!(c.version_rolling.unwrap().mask, None);

    let mut out = Vec::new();
    cenc::configure(
        &mut out,
        &Id::from(1),
        &ConfigureRequest {
            version_rolling: Some((0x1fffe000, 2)),
            minimum_difficulty: Some(0.001),
            subscribe_extranonce: false,
            lmr_contract_address: None,
        },
    )
    .unwrap();
    let ClientMessage::Configure(c) = parse_client(strip(&out)).unwrap().message else {
        panic!()
    };
    assert_eq!(c.version_rolling.unwrap().mask, Some(0x1fffe000));
    assert_eq!(c.minimum_difficulty, Some(0.001));
    assert_eq!(c.lmr_contract_address, None);

    // Lumerin's validator convention: the contract travels in an `lmr` extension.
    let mut out = Vec::new();
    let contract = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
    cenc::configure(
        &mut out,
        &Id::from(1),
        &ConfigureRequest {
            version_rolling: Some((0x1fffe000, 2)),
            minimum_difficulty: Some(2048.0),
            lmr_contract_address: Some(contract),
            ..Default::default()
        },
    )
    .unwrap();
    let line = std::str::from_utf8(strip(&out)).unwrap();
    assert!(
        line.contains(r#"["version-rolling","minimum-difficulty","lmr"]"#),
        "{line}"
    );
    let ClientMessage::Configure(c) = parse_client(strip(&out)).unwrap().message else {
        panic!()
    };
    assert_eq!(c.lmr_contract_address.as_deref(), Some(contract));
    assert_eq!(c.minimum_difficulty, Some(2048.0));
    assert_eq!(c.unknown_extensions().collect::<Vec<_>>(), ["lmr"]);

    let bad = r#"{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"xyz"}]}"#;
    assert!(matches!(
        parse_client(bad.as_bytes()),
        Err(Sv1Error::BadHex { .. })
    ));
    let bad = r#"{"id":1,"method":"mining.configure","params":["version-rolling",{}]}"#;
    assert!(parse_client(bad.as_bytes()).is_err());

    let mut out = Vec::new();
    senc::configure_result(
        &mut out,
        &Id::from(1),
        &ConfigureResult {
            version_rolling_mask: Some(0x1fffe000),
            minimum_difficulty: Some(true),
            refused: &["lmr"],
            ..Default::default()
        },
    );
    assert_eq!(
        strip(&out),
        br#"{"id":1,"result":{"version-rolling":true,"version-rolling.mask":"1fffe000","minimum-difficulty":true,"lmr":false},"error":null}"#
    );
    let ServerMessage::Response(resp) = parse_server(strip(&out)).unwrap() else {
        panic!()
    };
    let answer = resp.configure().unwrap();
    assert_eq!(answer.version_rolling_mask, Some(0x1fffe000));
    assert_eq!(answer.minimum_difficulty, Some(true));
}

#[test]
fn submit_round_trip_and_rejections() {
    let line = r#"{"params": ["bc1q.s19-01", "6a1f", "0000000000AB", "65B2C0DE", "1A2B3C4D", "00C00000", "extra"], "id": 12, "method": "mining.submit"}"#;
    let ClientMessage::Submit(s) = client(line) else {
        panic!()
    };
    assert_eq!(s.worker, "bc1q.s19-01");
    assert_eq!(s.job_id, "6a1f");
    assert_eq!(s.extranonce2.as_bytes(), &[0, 0, 0, 0, 0, 0xab]);
    assert_eq!(
        (s.ntime, s.nonce, s.version_bits),
        (0x65b2c0de, 0x1a2b3c4d, Some(0x00c00000))
    );

    let mut out = Vec::new();
    cenc::submit(&mut out, &Id::from(12), &s);
    assert_eq!(
        strip(&out),
        br#"{"id":12,"method":"mining.submit","params":["bc1q.s19-01","6a1f","0000000000ab","65b2c0de","1a2b3c4d","00c00000"]}"#
    );
    let without = Submit {
        version_bits: None,
        ..s.clone()
    };
    out.clear();
    cenc::submit(&mut out, &Id::from(1), &without);
    assert_eq!(
        client(std::str::from_utf8(strip(&out)).unwrap()),
        ClientMessage::Submit(without)
    );

    // A proxy's submit carries the pool's whole extranonce2, whatever its width.
    out.clear();
    cenc::submit_raw(
        &mut out,
        &Id::from(20),
        &RawSubmit {
            worker: "buyer.farm",
            job_id: "job \"7\"",
            extranonce2: &[0, 0, 0, 5, 1, 2, 3, 4, 0xfe, 0xff, 0, 1],
            ntime: 0x65b2_c0de,
            nonce: 7,
            version_bits: Some(0x0000_6000),
        },
    );
    assert_eq!(
        strip(&out),
        br#"{"id":20,"method":"mining.submit","params":["buyer.farm","job \"7\"","0000000501020304feff0001","65b2c0de","00000007","00006000"]}"#
    );

    for (en2, ok) in [
        ("00", false),
        ("0000", true),
        ("0000000000000000", true),
        ("000000000000000000", false),
    ] {
        let line = format!(
            r#"{{"id":1,"method":"mining.submit","params":["w","1","{en2}","65b2c0de","00000000"]}}"#
        );
        assert_eq!(parse_client(line.as_bytes()).is_ok(), ok, "{en2}");
    }
    for bad in [
        r#"{"id":1,"method":"mining.submit","params":["w","1","0000","xx","00000000"]}"#,
        r#"{"id":1,"method":"mining.submit","params":["w","1","0000","65b2c0de"]}"#,
        r#"{"id":1,"method":"mining.submit","params":["w","1","0000",1234,"00000000"]}"#,
        r#"{"id":1,"method":"mining.submit","params":["w","1","0000","65b2c0de","123456789"]}"#,
        r#"{"id":1,"method":"mining.submit","params":{"worker":"w"}}"#,
        r#"{"id":1,"method":"mining.submit","params":["w","1","0000","65b2c0de""00000000"]}"#,
        r#"{"id":1,"method":"mining.submit""#,
    ] {
        assert!(parse_client(bad.as_bytes()).is_err(), "{bad}");
    }
    assert!(matches!(parse_client(b"\xff\xfe"), Err(Sv1Error::NotUtf8)));
    assert!(matches!(
        parse_client(br#"{"id":1,"params":[]}"#),
        Err(Sv1Error::MissingMethod)
    ));
}

#[test]
fn small_requests_and_unknown_methods() {
    assert_eq!(
        client(r#"{"id":3,"method":"mining.extranonce.subscribe","params":[]}"#),
        ClientMessage::ExtranonceSubscribe
    );
    assert_eq!(
        client(r#"{"id":3,"method":"mining.suggest_difficulty","params":[1e-3]}"#),
        ClientMessage::SuggestDifficulty { difficulty: 0.001 }
    );
    assert_eq!(
        client(r#"{"id":3,"method":"mining.suggest_difficulty","params":["512"]}"#),
        ClientMessage::SuggestDifficulty { difficulty: 512.0 }
    );
    assert!(
        parse_client(br#"{"id":3,"method":"mining.suggest_difficulty","params":[true]}"#).is_err()
    );
    assert_eq!(
        client(r#"{"id":9,"method":"mining.multi_version","params":[1]}"#),
        ClientMessage::Unknown {
            method: "mining.multi_version".into()
        }
    );
    let mut out = Vec::new();
    cenc::extranonce_subscribe(&mut out, &Id::from(3));
    assert_eq!(
        client(std::str::from_utf8(strip(&out)).unwrap()),
        ClientMessage::ExtranonceSubscribe
    );
    out.clear();
    cenc::suggest_difficulty(&mut out, &Id::from(3), 0.0001).unwrap();
    assert_eq!(
        client(std::str::from_utf8(strip(&out)).unwrap()),
        ClientMessage::SuggestDifficulty { difficulty: 0.0001 }
    );
    assert!(cenc::suggest_difficulty(&mut out, &Id::from(3), f64::NAN).is_err());
}

#[test]
fn notify_round_trip_in_internal_order() {
    let prev_hash: [u8; 32] = std::array::from_fn(|i| i as u8);
    let branch = [[0xaa; 32], std::array::from_fn(|i| 255 - i as u8)];
    let job = NotifyParams {
        job_id: "1f",
        prev_hash: &prev_hash,
        coinb1: &[1, 2, 3],
        coinb2: &[4, 5],
        merkle_branch: &branch,
        version: 0x2000_0000,
        nbits: 0x1703_4219,
        ntime: 0x65b2_c0de,
        clean_jobs: true,
    };
    let mut out = Vec::new();
    senc::notify(&mut out, &job);
    let text = std::str::from_utf8(strip(&out)).unwrap();
    assert!(
        text.starts_with(
            r#"{"id":null,"method":"mining.notify","params":["1f","03020100070605040b0a0908"#
        ),
        "{text}"
    );
    assert!(
        text.ends_with(r#""20000000","17034219","65b2c0de",true]}"#),
        "{text}"
    );
    let ServerMessage::Notify(n) = parse_server(strip(&out)).unwrap() else {
        panic!()
    };
    assert_eq!(n.prev_hash, prev_hash);
    assert_eq!(n.merkle_branch, branch.to_vec());
    assert_eq!((n.coinb1, n.coinb2), (vec![1, 2, 3], vec![4, 5]));
    assert_eq!(
        (n.version, n.nbits, n.ntime, n.clean_jobs),
        (0x20000000, 0x17034219, 0x65b2c0de, true)
    );
    let bad = text.replace("true]", "\"yes\"]");
    assert!(parse_server(bad.as_bytes()).is_err());
    let bad = text.replace("\"1f\",\"0302", "\"1f\",\"zz02");
    assert!(matches!(
        parse_server(bad.as_bytes()),
        Err(Sv1Error::BadHex { field: "prevhash" })
    ));
}

#[test]
fn difficulty_values_keep_precision() {
    for (value, text) in [
        (1024.0, "1024"),
        (0.001, "0.001"),
        (1e-4, "0.0001"),
        (65536.5, "65536.5"),
        (0.1 + 0.2, "0.30000000000000004"),
    ] {
        let mut out = Vec::new();
        senc::set_difficulty(&mut out, value).unwrap();
        assert_eq!(
            strip(&out),
            format!(r#"{{"id":null,"method":"mining.set_difficulty","params":[{text}]}}"#)
                .as_bytes()
        );
        let ServerMessage::SetDifficulty(back) = parse_server(strip(&out)).unwrap() else {
            panic!()
        };
        assert_eq!(back.to_bits(), value.to_bits());
    }
    for text in ["1e-3", "1E-3", "0.001"] {
        let line = format!(r#"{{"id":null,"method":"mining.set_difficulty","params":[{text}]}}"#);
        let ServerMessage::SetDifficulty(d) = parse_server(line.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(d, 0.001);
    }
    let mut out = Vec::new();
    assert!(senc::set_difficulty(&mut out, 0.0).is_err());
    assert!(senc::set_difficulty(&mut out, f64::INFINITY).is_err());
    assert!(
        out.is_empty(),
        "a failed encode leaves the buffer untouched"
    );
    assert!(
        parse_server(br#"{"id":null,"method":"mining.set_difficulty","params":[-1]}"#).is_err()
    );
}

#[test]
fn other_notifications() {
    let mut out = Vec::new();
    senc::set_extranonce(&mut out, &[0xde, 0xad], 6);
    senc::set_version_mask(&mut out, 0x1fffe000);
    senc::reconnect(&mut out, Some("pool.example"), Some(3333), Some(5));
    senc::reconnect(&mut out, None, None, None);
    let lines: Vec<&[u8]> = out
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 4);
    let ServerMessage::SetExtranonce {
        extranonce1,
        extranonce2_size,
    } = parse_server(lines[0]).unwrap()
    else {
        panic!()
    };
    assert_eq!((extranonce1, extranonce2_size), (vec![0xde, 0xad], 6));
    assert!(matches!(
        parse_server(lines[1]).unwrap(),
        ServerMessage::SetVersionMask(0x1fffe000)
    ));
    let ServerMessage::Reconnect(r) = parse_server(lines[2]).unwrap() else {
        panic!()
    };
    assert_eq!(
        (r.host.as_deref(), r.port, r.wait_seconds),
        (Some("pool.example"), Some(3333), Some(5))
    );
    let ServerMessage::Reconnect(r) = parse_server(lines[3]).unwrap() else {
        panic!()
    };
    assert_eq!(r.host, None);
    assert!(matches!(
        parse_server(br#"{"id":5,"method":"client.get_version","params":[]}"#).unwrap(),
        ServerMessage::Unknown { .. }
    ));
}

#[test]
fn responses() {
    let mut out = Vec::new();
    senc::subscribe_result(&mut out, &Id::from(1), "ae6812eb", &[8, 0, 0, 2], 4);
    assert_eq!(
        strip(&out),
        br#"{"id":1,"result":[[["mining.set_difficulty","ae6812eb"],["mining.notify","ae6812eb"]],"08000002",4],"error":null}"#
    );
    let ServerMessage::Response(resp) = parse_server(strip(&out)).unwrap() else {
        panic!()
    };
    let answer = resp.subscribe().unwrap();
    assert_eq!(
        (answer.extranonce1, answer.extranonce2_size),
        (vec![8, 0, 0, 2], 4)
    );

    out.clear();
    senc::error(&mut out, &Id::from(4), 21, "Job not found");
    assert_eq!(
        strip(&out),
        br#"{"id":4,"result":null,"error":[21,"Job not found",null]}"#
    );
    let ServerMessage::Response(resp) = parse_server(strip(&out)).unwrap() else {
        panic!()
    };
    assert!(!resp.is_true());
    let err = resp.error.unwrap();
    assert_eq!((err.code, err.message.as_ref()), (21, "Job not found"));

    let ServerMessage::Response(resp) =
        parse_server(br#"{"id":4,"result":null,"error":{"code":23,"message":"Low difficulty"}}"#)
            .unwrap()
    else {
        panic!()
    };
    assert_eq!(resp.error.unwrap().code, 23);
    let ServerMessage::Response(resp) =
        parse_server(br#"{"id":2,"result":false,"error":null}"#).unwrap()
    else {
        panic!()
    };
    assert!(!resp.is_true());
    assert!(resp.subscribe().is_err());
    assert!(matches!(parse_server(b"{}"), Err(Sv1Error::NotAMessage)));
}

#[test]
fn extranonce2_type() {
    let e = Extranonce2::from_counter(0x0102_0304_0506, 6).unwrap();
    assert_eq!(e.as_bytes(), &[1, 2, 3, 4, 5, 6]);
    assert!(matches!(
        Extranonce2::from_bytes(&[0; 9]),
        Err(Sv1Error::Extranonce2Length { len: 9 })
    ));
}
