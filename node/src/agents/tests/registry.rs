use std::sync::Arc;

use serde_json::{Value, json};

use crate::agents::*;
use crate::rpc::ErrorCode;
use crate::storage::DataRoot;
use crate::storage::testdir::TestDir;

fn registry() -> AgentRegistry {
    let mut r = AgentRegistry::new();
    r.register(Arc::new(EchoAgent::new())).unwrap();
    r
}

#[test]
fn builtins_are_listed_with_their_tools() {
    let dir = TestDir::new("builtins");
    let root = DataRoot::open(dir.path()).unwrap();
    let r = AgentRegistry::with_builtins(&root).unwrap();
    assert_eq!(r.len(), 2);
    assert!(!r.is_empty());
    assert_eq!(r.ids().collect::<Vec<_>>(), vec!["echo", "kv"]);
    let tools: Vec<(String, Vec<String>)> = r
        .list()
        .into_iter()
        .map(|a| (a.id, a.tools.into_iter().map(|t| t.name).collect()))
        .collect();
    assert_eq!(
        tools,
        vec![
            (
                "echo".to_string(),
                vec![
                    "echo".to_string(),
                    "reverse".to_string(),
                    "delay".to_string()
                ]
            ),
            (
                "kv".to_string(),
                ["get", "put", "delete", "list"].map(String::from).to_vec()
            ),
        ]
    );
    let listed = r.list_result();
    assert_eq!(listed["agents"][0]["id"], "echo");
    assert_eq!(listed["agents"][1]["tools"][1]["name"], "put");
    assert!(listed["agents"][1]["tools"][1]["params"].is_object());
    assert!(listed["agents"][0]["description"].is_string());
    assert!(r.get("kv").is_some());
}

#[test]
fn duplicate_ids_are_refused() {
    let mut r = registry();
    assert_eq!(
        r.register(Arc::new(EchoAgent::new())),
        Err(DuplicateAgent("echo".into()))
    );
    assert_eq!(r.len(), 1);
}

#[test]
fn calls_and_their_errors() {
    let r = registry();
    type Case = (
        &'static str,
        &'static str,
        Value,
        Result<Value, (ErrorCode, &'static str)>,
    );
    let table: Vec<Case> = vec![
        (
            "echo",
            "echo",
            json!({"a": [1, "b"]}),
            Ok(json!({"a": [1, "b"]})),
        ),
        ("echo", "echo", json!({}), Ok(json!({}))),
        (
            "echo",
            "reverse",
            json!({"text": "añb😀"}),
            Ok(json!({"text": "😀bña"})),
        ),
        (
            "echo",
            "reverse",
            json!({"text": ""}),
            Ok(json!({"text": ""})),
        ),
        (
            "echo",
            "delay",
            json!({"ms": 1}),
            Ok(json!({"slept_ms": 1})),
        ),
        (
            "echo",
            "delay",
            json!({"ms": 5001}),
            Err((ErrorCode::InvalidParams, "out of range 0-5000")),
        ),
        (
            "echo",
            "delay",
            json!({}),
            Err((ErrorCode::InvalidParams, "ms")),
        ),
        (
            "nope",
            "echo",
            json!({}),
            Err((ErrorCode::MethodNotFound, "unknown agent \"nope\"")),
        ),
        (
            "echo",
            "shout",
            json!({}),
            Err((ErrorCode::MethodNotFound, "has no tool \"shout\"")),
        ),
        (
            "echo",
            "reverse",
            json!({}),
            Err((ErrorCode::InvalidParams, "missing field \"text\"")),
        ),
        (
            "echo",
            "reverse",
            json!({"text": 5}),
            Err((ErrorCode::InvalidParams, "must be a string, not a number")),
        ),
        (
            "echo",
            "reverse",
            json!({"text": "x", "y": 1}),
            Err((ErrorCode::InvalidParams, "unknown field \"y\"")),
        ),
        (
            "echo",
            "reverse",
            json!(["x"]),
            Err((ErrorCode::InvalidParams, "must be an object")),
        ),
    ];
    for (agent, tool, params, want) in table {
        let got = r.call(agent, tool, params.clone());
        match (want, got) {
            (Ok(expected), Ok(v)) => assert_eq!(v, expected, "{agent}/{tool} {params}"),
            (Err((code, text)), Err(e)) => {
                assert_eq!(e.code(), code, "{agent}/{tool} {params}: {e}");
                assert!(e.to_string().contains(text), "{agent}/{tool} {params}: {e}");
            }
            (want, got) => panic!("{agent}/{tool} {params}: want {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn labels_of_unknown_agents_and_tools_are_bounded() {
    let r = registry();
    assert_eq!(r.labels("echo", "reverse"), ("echo", "reverse"));
    assert_eq!(r.labels("echo", "x"), ("echo", UNKNOWN_LABEL));
    assert_eq!(r.labels("random-1234", "x"), (UNKNOWN_LABEL, UNKNOWN_LABEL));
}

#[test]
fn agent_call_params() {
    let ok = |agent: &str, tool: &str, params: Value| AgentCall {
        agent: agent.into(),
        tool: tool.into(),
        params,
    };
    let table: Vec<(Option<Value>, Result<AgentCall, &str>)> = vec![
        (
            Some(json!({"agent": "kv", "tool": "get", "params": {"key": "a"}})),
            Ok(ok("kv", "get", json!({"key": "a"}))),
        ),
        (
            Some(json!({"agent_id": "kv", "operation": "list"})),
            Ok(ok("kv", "list", json!({}))),
        ),
        (
            Some(json!({"agent": "kv", "tool": "list", "params": null})),
            Ok(ok("kv", "list", json!({}))),
        ),
        (None, Err("invalid type: null")),
        (Some(json!({"tool": "get"})), Err("missing field `agent`")),
        (Some(json!({"agent": "kv"})), Err("missing field `tool`")),
        (
            Some(json!({"agent": 1, "tool": "get"})),
            Err("invalid type: integer"),
        ),
        (
            Some(json!({"agnet": "kv", "tool": "get"})),
            Err("unknown field `agnet`"),
        ),
        // Params by position, as JSON-RPC allows: [agent, tool, params].
        (
            Some(json!(["kv", "get", {"key": "a"}])),
            Ok(ok("kv", "get", json!({"key": "a"}))),
        ),
        (Some(json!(["kv"])), Err("invalid length 1")),
        (Some(json!("kv/get")), Err("agent/call takes")),
    ];
    for (params, want) in table {
        let got = AgentCall::from_params(params.clone());
        match (want, got) {
            (Ok(expected), Ok(call)) => assert_eq!(call, expected, "{params:?}"),
            (Err(text), Err(e)) => {
                assert_eq!(e.code(), ErrorCode::InvalidParams, "{params:?}");
                assert!(e.to_string().contains(text), "{params:?}: {e}");
            }
            (want, got) => panic!("{params:?}: want {want:?}, got {got:?}"),
        }
    }
}
