use std::fs;

use serde_json::{Value, json};

use crate::agents::*;
use crate::rpc::ErrorCode;
use crate::storage::testdir::TestDir;
use crate::storage::{DataRoot, StorageError};

fn small() -> KvLimits {
    KvLimits {
        max_key_bytes: 8,
        max_value_bytes: 16,
        max_entries: 3,
        max_total_bytes: 50,
    }
}

fn call(kv: &KvAgent, tool: &str, params: Value) -> Result<Value, AgentError> {
    kv.call(tool, params)
}

#[test]
fn tools_round_trip() {
    let dir = TestDir::new("kv-tools");
    let kv = KvAgent::open_file(&dir.path().join("kv.json"), KvLimits::default()).unwrap();
    let table: Vec<(&str, Value, Value)> = vec![
        (
            "get",
            json!({"key": "a"}),
            json!({"key": "a", "found": false, "value": null}),
        ),
        (
            "put",
            json!({"key": "a", "value": {"n": 1}}),
            json!({"key": "a", "created": true}),
        ),
        (
            "put",
            json!({"key": "a", "value": [1, 2]}),
            json!({"key": "a", "created": false}),
        ),
        (
            "put",
            json!({"key": "ab", "value": null}),
            json!({"key": "ab", "created": true}),
        ),
        (
            "put",
            json!({"key": "b", "value": "x"}),
            json!({"key": "b", "created": true}),
        ),
        (
            "get",
            json!({"key": "a"}),
            json!({"key": "a", "found": true, "value": [1, 2]}),
        ),
        (
            "get",
            json!({"key": "ab"}),
            json!({"key": "ab", "found": true, "value": null}),
        ),
        (
            "list",
            json!({}),
            json!({"keys": ["a", "ab", "b"], "truncated": false}),
        ),
        (
            "list",
            json!({"prefix": "a"}),
            json!({"keys": ["a", "ab"], "truncated": false}),
        ),
        (
            "list",
            json!({"prefix": "a", "limit": 1}),
            json!({"keys": ["a"], "truncated": true}),
        ),
        (
            "list",
            json!({"prefix": "c"}),
            json!({"keys": [], "truncated": false}),
        ),
        (
            "delete",
            json!({"key": "a"}),
            json!({"key": "a", "deleted": true}),
        ),
        (
            "delete",
            json!({"key": "a"}),
            json!({"key": "a", "deleted": false}),
        ),
        (
            "list",
            json!({"prefix": null, "limit": null}),
            json!({"keys": ["ab", "b"], "truncated": false}),
        ),
    ];
    for (tool, params, expected) in table {
        assert_eq!(
            call(&kv, tool, params.clone()).unwrap(),
            expected,
            "{tool} {params}"
        );
    }
    assert_eq!(kv.len(), 2);
}

#[test]
fn data_survives_reopening_the_root() {
    let dir = TestDir::new("kv-persist");
    {
        let root = DataRoot::open(dir.path()).unwrap();
        let registry = AgentRegistry::with_builtins(&root).unwrap();
        registry
            .call(
                "kv",
                "put",
                json!({"key": "greeting", "value": {"text": "hello", "n": 3}}),
            )
            .unwrap();
        registry
            .call("kv", "put", json!({"key": "gone", "value": 1}))
            .unwrap();
        registry
            .call("kv", "delete", json!({"key": "gone"}))
            .unwrap();
    }
    let file = dir.path().join(KV_FILE);
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(&file).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode, 0o600);
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        "{\"version\":1,\"entries\":{\"greeting\":{\"n\":3,\"text\":\"hello\"}}}\n"
    );

    let root = DataRoot::open(dir.path()).unwrap();
    let registry = AgentRegistry::with_builtins(&root).unwrap();
    assert_eq!(
        registry
            .call("kv", "get", json!({"key": "greeting"}))
            .unwrap()["value"],
        json!({"text": "hello", "n": 3})
    );
    assert_eq!(
        registry.call("kv", "list", json!({})).unwrap(),
        json!({"keys": ["greeting"], "truncated": false})
    );
}

#[test]
fn a_corrupt_file_is_a_clear_error_naming_it() {
    let table: &[(&[u8], &str)] = &[
        (
            b"{\"version\":1,\"entries\":{\"a\":",
            "not valid JSON for this file: EOF",
        ),
        (b"\x00\x01garbage", "not valid JSON"),
        (b"[]", "invalid length 0, expected struct KvFile"),
        (b"\"kv\"", "invalid type: string"),
        (
            b"{\"version\":2,\"entries\":{}}",
            "format version 2 is not the version 1",
        ),
        (
            b"{\"version\":1,\"entries\":{},\"extra\":0}",
            "unknown field `extra`",
        ),
        (b"{\"version\":1,\"entries\":[]}", "invalid type: sequence"),
    ];
    for (content, text) in table {
        let dir = TestDir::new("kv-corrupt");
        let root = DataRoot::open(dir.path()).unwrap();
        let file = root.subdir("agents").unwrap().join("kv.json");
        fs::write(&file, content).unwrap();
        let e = AgentRegistry::with_builtins(&root).unwrap_err();
        assert!(matches!(e, StorageError::Corrupt { .. }), "{e}");
        assert_eq!(e.path(), file);
        let message = e.to_string();
        assert!(message.contains(text), "{message}");
        assert!(message.contains(&*file.to_string_lossy()), "{message}");
        assert_eq!(
            fs::read(&file).unwrap(),
            *content,
            "a corrupt file is left as it is"
        );
    }

    let dir = TestDir::new("kv-huge");
    let file = dir.path().join("kv.json");
    fs::write(&file, vec![b' '; 70 * 1024]).unwrap();
    let e = KvAgent::open_file(&file, small()).unwrap_err();
    assert!(e.to_string().contains("larger than"), "{e}");
}

#[test]
fn bad_params_and_limits() {
    let dir = TestDir::new("kv-params");
    let kv = KvAgent::open_file(&dir.path().join("kv.json"), small()).unwrap();
    use ErrorCode::{InvalidParams as Bad, MethodNotFound as Unknown, ServerError as Full};
    let table: Vec<(&str, Value, ErrorCode, &str)> = vec![
        ("get", json!({}), Bad, "missing field \"key\""),
        (
            "get",
            json!({"key": 1}),
            Bad,
            "field \"key\" must be a string, not a number",
        ),
        (
            "get",
            json!({"key": "a", "value": 1}),
            Bad,
            "unknown field \"value\"",
        ),
        ("get", json!("a"), Bad, "params must be an object"),
        ("put", json!({"key": "a"}), Bad, "missing field \"value\""),
        (
            "put",
            json!({"key": "", "value": 1}),
            Bad,
            "must not be empty",
        ),
        (
            "put",
            json!({"key": "123456789", "value": 1}),
            Bad,
            "key of 9 bytes exceeds the limit of 8 bytes",
        ),
        (
            "put",
            json!({"key": "a", "value": "0123456789abcdef"}),
            Bad,
            "value of 18 bytes (as JSON) exceeds the limit of 16 bytes",
        ),
        (
            "delete",
            json!({"key": null}),
            Bad,
            "must be a string, not null",
        ),
        ("delete", json!({"key": "ééééé"}), Bad, "key of 10 bytes"),
        (
            "list",
            json!({"limit": 0}),
            Bad,
            "must be from 1 to 10000, not 0",
        ),
        (
            "list",
            json!({"limit": -1}),
            Bad,
            "must be a non-negative integer",
        ),
        ("list", json!({"limit": 10001}), Bad, "not 10001"),
        (
            "list",
            json!({"prefix": 1}),
            Bad,
            "field \"prefix\" must be a string",
        ),
        ("scan", json!({}), Unknown, "has no tool \"scan\""),
    ];
    for (tool, params, code, text) in table {
        let e = call(&kv, tool, params.clone()).unwrap_err();
        assert_eq!(e.code(), code, "{tool} {params}: {e}");
        assert!(e.to_string().contains(text), "{tool} {params}: {e}");
    }
    assert!(kv.is_empty());

    // Capacity: three keys at most, 50 bytes in all (each entry is its key and value as
    // JSON plus 2: `"a"`, `1` and 2 make 6).
    for key in ["a", "b", "c"] {
        call(&kv, "put", json!({"key": key, "value": 1})).unwrap();
    }
    let e = call(&kv, "put", json!({"key": "d", "value": 1})).unwrap_err();
    assert_eq!(e.code(), Full, "{e}");
    assert!(e.to_string().contains("full (3 keys)"), "{e}");
    // Replacing an existing key is fine while the total allows it.
    call(&kv, "put", json!({"key": "a", "value": "0123456789ab"})).unwrap();
    call(&kv, "put", json!({"key": "b", "value": "0123456789ab"})).unwrap();
    let e = call(&kv, "put", json!({"key": "c", "value": "0123456789ab"})).unwrap_err();
    assert_eq!(e.code(), Full, "{e}");
    assert!(
        e.to_string()
            .contains("would hold 57 bytes, over its limit of 50 bytes"),
        "{e}"
    );
    call(&kv, "delete", json!({"key": "a"})).unwrap();
    call(&kv, "put", json!({"key": "c", "value": "0123456789ab"})).unwrap();
}

#[test]
fn a_failed_save_changes_nothing() {
    let dir = TestDir::new("kv-fail");
    let file = dir.path().join("kv.json");
    let kv = KvAgent::open_file(&file, KvLimits::default()).unwrap();
    call(&kv, "put", json!({"key": "a", "value": 1})).unwrap();
    // Make the file impossible to replace: a non-empty directory in its place.
    fs::remove_file(&file).unwrap();
    fs::create_dir(&file).unwrap();
    fs::write(file.join("x"), b"").unwrap();

    let e = call(&kv, "put", json!({"key": "a", "value": 2})).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InternalError, "{e}");
    assert!(e.to_string().contains("cannot write"), "{e}");
    let e = call(&kv, "put", json!({"key": "new", "value": 2})).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InternalError, "{e}");
    let e = call(&kv, "delete", json!({"key": "a"})).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InternalError, "{e}");

    assert_eq!(
        call(&kv, "get", json!({"key": "a"})).unwrap()["value"],
        json!(1)
    );
    assert_eq!(
        call(&kv, "list", json!({})).unwrap(),
        json!({"keys": ["a"], "truncated": false})
    );
    assert_eq!(kv.path(), file);
}
