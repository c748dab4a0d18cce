//! Table-driven tests of the codec: every accepted shape, every rejection with its code and
//! recovered id, exact encodings, and hostile input.

use serde_json::{Value, json};

use super::*;

const MAX: usize = 1024;

/// What decoding one input must give.
enum Want {
    Ok(Message),
    Err {
        code: ErrorCode,
        id: Option<Id>,
        kind: &'static str,
    },
}

fn err(code: ErrorCode, id: Option<Id>, kind: &'static str) -> Want {
    Want::Err { code, id, kind }
}

fn id(n: i64) -> Option<Id> {
    Some(Id::Number(n))
}

#[test]
fn decode_table() {
    use ErrorCode::{InvalidRequest as Invalid, ParseError as Parse};
    let table: Vec<(&str, &[u8], Want)> = vec![
        (
            "request with object params",
            br#"{"jsonrpc":"2.0","id":1,"method":"agent/call","params":{"agent":"echo"}}"#,
            Want::Ok(Message::request(1, "agent/call", Some(json!({"agent": "echo"})))),
        ),
        (
            "request with array params and string id",
            br#"{"jsonrpc":"2.0","id":"x-1","method":"m","params":[1,2]}"#,
            Want::Ok(Message::request("x-1", "m", Some(json!([1, 2])))),
        ),
        (
            "request without params, whitespace around",
            b" \n{ \"method\" : \"node/ping\", \"id\" : 0, \"jsonrpc\" : \"2.0\" }\t",
            Want::Ok(Message::request(0, "node/ping", None)),
        ),
        (
            "null params are absent params",
            br#"{"jsonrpc":"2.0","id":-5,"method":"m","params":null}"#,
            Want::Ok(Message::request(-5, "m", None)),
        ),
        (
            "unknown members are ignored",
            br#"{"jsonrpc":"2.0","id":1,"method":"m","trace":"abc"}"#,
            Want::Ok(Message::request(1, "m", None)),
        ),
        (
            "notification",
            br#"{"jsonrpc":"2.0","method":"peers/gossip","params":{"peers":[]}}"#,
            Want::Ok(Message::notification(
                "peers/gossip",
                Some(json!({"peers": []})),
            )),
        ),
        (
            "response with null result",
            br#"{"jsonrpc":"2.0","id":3,"result":null}"#,
            Want::Ok(Message::response(Id::Number(3), Value::Null)),
        ),
        (
            "error reply with null id and data",
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32005,"message":"slow down","data":{"retry_after":4}}}"#,
            Want::Ok(Message::error(
                None,
                ErrorObject {
                    code: -32005,
                    message: "slow down".into(),
                    data: Some(json!({"retry_after": 4})),
                },
            )),
        ),
        (
            "error reply with an unknown code",
            br#"{"jsonrpc":"2.0","id":"q","error":{"code":42,"message":"other"}}"#,
            Want::Ok(Message::error(
                Some(Id::from("q")),
                ErrorObject {
                    code: 42,
                    message: "other".into(),
                    data: None,
                },
            )),
        ),
        // Not JSON.
        ("empty", b"", err(Parse, None, "invalid_json")),
        ("whitespace only", b"  \n ", err(Parse, None, "invalid_json")),
        ("garbage", b"hello world", err(Parse, None, "invalid_json")),
        ("binary", &[0x00, 0xff, 0x13, 0x37], err(Parse, None, "invalid_utf8")),
        (
            "truncated after the id",
            br#"{"jsonrpc":"2.0","id":7,"method":"node/ping","par"#,
            err(Parse, id(7), "invalid_json"),
        ),
        (
            "truncated inside the id",
            br#"{"jsonrpc":"2.0","id":71"#,
            err(Parse, None, "invalid_json"),
        ),
        (
            "trailing data",
            br#"{"jsonrpc":"2.0","id":8,"method":"m"} {"#,
            err(Parse, id(8), "invalid_json"),
        ),
        (
            "single quotes",
            br#"{'jsonrpc':'2.0','id':1,'method':'m'}"#,
            err(Parse, None, "invalid_json"),
        ),
        (
            "invalid UTF-8 after the id",
            b"{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"\xc3\x28\"}",
            err(Parse, Some(Id::from("a")), "invalid_utf8"),
        ),
        // JSON, but not a message.
        (
            "batch",
            br#"[{"jsonrpc":"2.0","id":1,"method":"m"},{"jsonrpc":"2.0","id":2,"method":"m"}]"#,
            err(Invalid, None, "batch"),
        ),
        ("empty batch", b"[]", err(Invalid, None, "batch")),
        ("a string", br#""node/ping""#, err(Invalid, None, "invalid_request")),
        ("null", b"null", err(Invalid, None, "invalid_request")),
        (
            "missing jsonrpc version",
            br#"{"id":3,"method":"node/ping"}"#,
            err(Invalid, id(3), "invalid_request"),
        ),
        (
            "jsonrpc 1.0",
            br#"{"jsonrpc":"1.0","id":3,"method":"m"}"#,
            err(Invalid, id(3), "invalid_request"),
        ),
        (
            "jsonrpc as a number",
            br#"{"jsonrpc":2.0,"id":3,"method":"m"}"#,
            err(Invalid, id(3), "invalid_request"),
        ),
        (
            "object id",
            br#"{"jsonrpc":"2.0","id":{"a":1},"method":"m"}"#,
            err(Invalid, None, "invalid_request"),
        ),
        (
            "fractional id",
            br#"{"jsonrpc":"2.0","id":1.5,"method":"m"}"#,
            err(Invalid, None, "invalid_request"),
        ),
        (
            "id beyond i64",
            br#"{"jsonrpc":"2.0","id":18446744073709551615,"method":"m"}"#,
            err(Invalid, None, "invalid_request"),
        ),
        (
            "request with null id",
            br#"{"jsonrpc":"2.0","id":null,"method":"m"}"#,
            err(Invalid, None, "invalid_request"),
        ),
        (
            "numeric method",
            br#"{"jsonrpc":"2.0","id":4,"method":12}"#,
            err(Invalid, id(4), "invalid_request"),
        ),
        (
            "empty method",
            br#"{"jsonrpc":"2.0","id":4,"method":""}"#,
            err(Invalid, id(4), "invalid_request"),
        ),
        (
            "string params",
            br#"{"jsonrpc":"2.0","id":5,"method":"m","params":"x"}"#,
            err(Invalid, id(5), "invalid_request"),
        ),
        (
            "method and result",
            br#"{"jsonrpc":"2.0","id":6,"method":"m","result":1}"#,
            err(Invalid, id(6), "invalid_request"),
        ),
        (
            "result and error",
            br#"{"jsonrpc":"2.0","id":6,"result":1,"error":{"code":1,"message":"x"}}"#,
            err(Invalid, id(6), "invalid_request"),
        ),
        (
            "no method, result or error",
            br#"{"jsonrpc":"2.0","id":6}"#,
            err(Invalid, id(6), "invalid_request"),
        ),
        (
            "response without id",
            br#"{"jsonrpc":"2.0","result":1}"#,
            err(Invalid, None, "invalid_request"),
        ),
        (
            "response with null id",
            br#"{"jsonrpc":"2.0","id":null,"result":1}"#,
            err(Invalid, None, "invalid_request"),
        ),
        (
            "error without code",
            br#"{"jsonrpc":"2.0","id":9,"error":{"message":"x"}}"#,
            err(Invalid, id(9), "invalid_request"),
        ),
        (
            "error with a string code",
            br#"{"jsonrpc":"2.0","id":9,"error":{"code":"-32600","message":"x"}}"#,
            err(Invalid, id(9), "invalid_request"),
        ),
        (
            "error that is a string",
            br#"{"jsonrpc":"2.0","id":9,"error":"bad"}"#,
            err(Invalid, id(9), "invalid_request"),
        ),
    ];
    for (name, input, want) in table {
        let got = decode(input, MAX);
        match (want, got) {
            (Want::Ok(expected), Ok(message)) => assert_eq!(message, expected, "{name}"),
            (Want::Err { code, id, kind }, Err(e)) => {
                assert_eq!(
                    (e.code(), e.id(), e.as_str()),
                    (code, id.as_ref(), kind),
                    "{name}: {e}"
                );
                let reply = e.reply();
                assert_eq!(reply.id(), id.as_ref(), "{name}");
                let Message::Error(reply) = reply else {
                    panic!("{name}: reply is not an error")
                };
                assert_eq!(reply.error.code, code.code(), "{name}");
                assert!(reply.error.message.contains(&e.to_string()), "{name}");
            }
            (Want::Ok(_), Err(e)) => panic!("{name}: expected a message, got {e}"),
            (Want::Err { .. }, Ok(m)) => panic!("{name}: expected an error, got {m:?}"),
        }
    }
}

#[test]
fn shape_errors_say_what_is_wrong() {
    let table: &[(&[u8], ShapeError)] = &[
        (br#"{"id":1,"method":"m"}"#, ShapeError::MissingVersion),
        (
            br#"{"jsonrpc":"1.0","id":1,"method":"m"}"#,
            ShapeError::WrongVersion {
                found: "\"1.0\"".into(),
            },
        ),
        (
            br#"{"jsonrpc":"2.0","id":[],"method":"m"}"#,
            ShapeError::BadId,
        ),
        (
            br#"{"jsonrpc":"2.0","id":null,"method":"m"}"#,
            ShapeError::NullRequestId,
        ),
        (br#"{"jsonrpc":"2.0","method":null}"#, ShapeError::BadMethod),
        (
            br#"{"jsonrpc":"2.0","method":"m","params":1}"#,
            ShapeError::BadParams,
        ),
        (
            br#"{"jsonrpc":"2.0","method":"m","error":{}}"#,
            ShapeError::Ambiguous,
        ),
        (br#"{"jsonrpc":"2.0"}"#, ShapeError::Unrecognised),
        (
            br#"{"jsonrpc":"2.0","error":{"code":1,"message":""}}"#,
            ShapeError::MissingReplyId,
        ),
        (
            br#"{"jsonrpc":"2.0","id":null,"result":0}"#,
            ShapeError::NullResponseId,
        ),
        (
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":1.5,"message":""}}"#,
            ShapeError::BadErrorObject,
        ),
        (b"true", ShapeError::NotAnObject { found: "boolean" }),
    ];
    for (input, expected) in table {
        match decode(input, MAX) {
            Err(RpcError::InvalidRequest { reason, .. }) => assert_eq!(&reason, expected),
            other => panic!("{}: {other:?}", String::from_utf8_lossy(input)),
        }
    }
}

#[test]
fn long_version_values_are_shortened_in_the_error() {
    let input = format!(r#"{{"jsonrpc":"{}","id":1,"method":"m"}}"#, "é".repeat(100));
    let Err(RpcError::InvalidRequest {
        reason: ShapeError::WrongVersion { found },
        ..
    }) = decode(input.as_bytes(), MAX)
    else {
        panic!("expected a wrong version")
    };
    assert!(found.chars().count() <= 33, "{found}");
    assert!(found.ends_with('…'));
}

#[test]
fn size_limit_is_checked_before_parsing() {
    let exact = {
        let mut m = br#"{"jsonrpc":"2.0","id":1,"method":"m"}"#.to_vec();
        m.resize(MAX, b' ');
        m
    };
    assert_eq!(decode(&exact, MAX), Ok(Message::request(1, "m", None)));

    let mut over = exact.clone();
    over.push(b' ');
    let e = decode(&over, MAX).unwrap_err();
    assert_eq!(
        e,
        RpcError::TooLarge {
            len: MAX + 1,
            max: MAX
        }
    );
    assert_eq!(e.code(), ErrorCode::InvalidRequest);
    assert_eq!(
        encode(&e.reply()),
        br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request: message of 1025 bytes exceeds the limit of 1024 bytes","data":{"max_size":1024}}}"#
    );

    // A huge input is refused by its length alone, whatever it holds.
    let huge = vec![b'['; 16 * DEFAULT_MAX_MESSAGE_SIZE];
    assert_eq!(
        decode(&huge, DEFAULT_MAX_MESSAGE_SIZE)
            .unwrap_err()
            .as_str(),
        "too_large"
    );
}

#[test]
fn deep_nesting_is_a_parse_error_not_a_stack_overflow() {
    for open in [b'[', b'{'] {
        let mut input = br#"{"jsonrpc":"2.0","id":1,"method":"m","params":"#.to_vec();
        input.extend(std::iter::repeat_n(open, 100_000));
        let e = decode(&input, DEFAULT_MAX_MESSAGE_SIZE).unwrap_err();
        assert_eq!(e.code(), ErrorCode::ParseError);
        assert_eq!(e.id(), Some(&Id::Number(1)));
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let alphabet = br#"{}[]":,\ 0123456789-.eEtrufalsn"jsonrpc2.0idmethodparamsresulterrorcode"#;
    for len in 0..2000 {
        let input: Vec<u8> = (0..len % 300)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if state.is_multiple_of(17) {
                    (state >> 8) as u8
                } else {
                    alphabet[(state % alphabet.len() as u64) as usize]
                }
            })
            .collect();
        if let Err(e) = decode(&input, MAX) {
            let _ = encode(&e.reply());
        }
    }
}

#[test]
fn encodings_are_exact() {
    let table = [
        (
            Message::request(1, "node/ping", None),
            r#"{"jsonrpc":"2.0","id":1,"method":"node/ping"}"#,
        ),
        (
            Message::request(
                "a",
                "agent/call",
                Some(json!({"tool":"echo","agent":"echo"})),
            ),
            r#"{"jsonrpc":"2.0","id":"a","method":"agent/call","params":{"agent":"echo","tool":"echo"}}"#,
        ),
        (
            Message::response(Id::Number(2), json!({"pong": true})),
            r#"{"jsonrpc":"2.0","id":2,"result":{"pong":true}}"#,
        ),
        (
            Message::notification("peers/gossip", None),
            r#"{"jsonrpc":"2.0","method":"peers/gossip"}"#,
        ),
        (
            Message::error(Some(Id::Number(3)), ErrorObject::method_not_found("nope")),
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"Method not found: nope"}}"#,
        ),
        (
            Message::error(
                Some(Id::Number(4)),
                ErrorObject::rate_limited(std::time::Duration::from_millis(2500)),
            ),
            r#"{"jsonrpc":"2.0","id":4,"error":{"code":-32005,"message":"Rate limited: retry after 3 s","data":{"retry_after":3}}}"#,
        ),
        (
            Message::error(None, ErrorObject::internal("disk full")),
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"Internal error: disk full"}}"#,
        ),
    ];
    for (message, text) in table {
        assert_eq!(String::from_utf8(encode(&message)).unwrap(), text);
        assert_eq!(decode(text.as_bytes(), MAX), Ok(message.clone()), "{text}");
        let via_serde: Message = serde_json::from_str(text).unwrap();
        assert_eq!(via_serde, message);
    }
}

#[test]
fn parse_error_reply_names_the_recovered_id() {
    let e = decode(
        br#"{"jsonrpc":"2.0","id":"r-9","method":"m","params":{"#,
        MAX,
    )
    .unwrap_err();
    let text = String::from_utf8(encode(&e.reply())).unwrap();
    assert!(
        text.starts_with(r#"{"jsonrpc":"2.0","id":"r-9","error":{"code":-32700,"message":"Parse error: message is not valid JSON: "#),
        "{text}"
    );
}

#[test]
fn serde_deserialize_applies_the_same_rules() {
    for bad in [
        r#"[{"jsonrpc":"2.0","id":1,"method":"m"}]"#,
        r#"{"id":1,"method":"m"}"#,
        r#"42"#,
    ] {
        assert!(serde_json::from_str::<Message>(bad).is_err(), "{bad}");
    }
}
