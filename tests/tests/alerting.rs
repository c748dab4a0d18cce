//! The shipped alerting, end to end (issue 6's acceptance): a cluster of three node +
//! exporter pairs, a real Prometheus running the shipped `prometheus.yml` and rules, a real
//! Alertmanager running the shipped `alertmanager.yml`, and a webhook receiver in this test.
//!
//! The test copies change durations and addresses only, never an expression:
//! - rules: every `for:` becomes 2 s and `keep_firing_for:` 1 s;
//! - prometheus.yml: scrape and evaluation every 1 s; the static targets (docker-compose.yml's
//!   three exporters) become two of the exporters, and the third comes through the shipped file_sd glob
//!   (`targets/*.yml`), so both discovery routes are used; Alertmanager and the self-scrape
//!   point at the test's ports;
//! - alertmanager.yml: the webhook host becomes the test's receiver; `group_wait` and
//!   `group_interval` 1 s. Routes (by severity), receivers and inhibitions stay as shipped.
//!
//! What is checked:
//! 1. Every expression of the rules (as Prometheus loaded them) and of the Grafana dashboard
//!    parses in Prometheus' query API and returns data from the running cluster. Alert
//!    expressions are often empty when all is well (`dawn_node_up == 0` while every node is
//!    up), so an alert expression with no result is taken apart at its outermost operator
//!    (`support::promql::split`) and its parts are checked instead, recursively: the left
//!    side of a comparison (and the right unless it is a number), both sides of `and`/`or`,
//!    the left of `unless`, the argument of `absent(...)`. So `p2p_circuit_breaker_state ==
//!    1` needs `p2p_circuit_breaker_state` to exist, and `absent(dawn_node_up{job="dawn"})`
//!    needs `dawn_node_up{job="dawn"}`. Dashboard queries must return data as they are
//!    (with `$job`/`$instance` at "All" and `$__rate_interval` 1m). To give every metric
//!    data, traffic first makes errors, agent calls that succeed and fail, a breaker that
//!    opens (threshold 1) and closes, and a rate-limited flood.
//! 2. The open breaker's `DawnCircuitBreakerOpen` reaches the webhook as the warning
//!    receiver.
//! 3. SIGKILL of a node: `DawnNodeDown` for its exporter's instance reaches the webhook as
//!    the critical receiver, firing; restarting the node sends the resolved notification.

use std::collections::BTreeSet;
use std::process::ExitCode;

use dawn_node::rpc::{RATE_LIMITED, SERVER_ERROR};
use dawn_tests::support::alertmanager::{Alertmanager, Webhook, summarize};
use dawn_tests::support::deploy::{self, RULES_FROM_CONFIG, RUNBOOK_URL};
use dawn_tests::support::harness;
use dawn_tests::support::http::get;
use dawn_tests::support::prometheus::{Prometheus, percent_encode};
use dawn_tests::support::promql;
use dawn_tests::support::tools::{ALERTMANAGER, PROMETHEUS};
use dawn_tests::support::{Caller, Pair, eventually};
use dawn_tests::trial;
use serde_json::{Value, json};

/// Gossip period: the nodes peer within a second or two.
const GOSSIP: &str = "1s";
/// How long A's breakers stay open: long enough for Prometheus (1 s scrapes and
/// evaluations) to see it open.
const BREAKER_OPEN: &str = "5s";
/// What `$__rate_interval` stands for in the dashboard's queries (scrapes are 1 s apart).
const RATE_INTERVAL: &str = "1m";

fn main() -> ExitCode {
    harness::main(vec![
        trial!(alerts_reach_the_webhook_and_every_rule_and_dashboard_expression_returns_data)
            .needs(PROMETHEUS)
            .needs(ALERTMANAGER),
    ])
}

fn alerts_reach_the_webhook_and_every_rule_and_dashboard_expression_returns_data() {
    let prometheus = PROMETHEUS.path();
    let alertmanager = ALERTMANAGER.path();

    // The cluster: B and C bootstrap to A. A opens a breaker on the first failure and
    // half-opens it after BREAKER_OPEN.
    let a = Pair::start(&[
        ("PROJECT_DAWN_GOSSIP_INTERVAL", GOSSIP),
        ("PROJECT_DAWN_CB_THRESHOLD", "1"),
        ("PROJECT_DAWN_CB_TIMEOUT", BREAKER_OPEN),
    ]);
    let mut b = Pair::start(&[
        ("PROJECT_DAWN_GOSSIP_INTERVAL", GOSSIP),
        ("PROJECT_DAWN_BOOTSTRAP", &a.addr()),
    ]);
    let c = Pair::start(&[
        ("PROJECT_DAWN_GOSSIP_INTERVAL", GOSSIP),
        ("PROJECT_DAWN_BOOTSTRAP", &a.addr()),
    ]);
    let instance = |p: &Pair| format!("127.0.0.1:{}", p.exporter.port);
    let (a_instance, b_instance, c_instance) = (instance(&a), instance(&b), instance(&c));

    // Alertmanager (the shipped config, delivering to this test) and Prometheus (the shipped
    // config and rules; B's exporter through file_sd, the others static).
    let webhook = Webhook::start();
    let am = Alertmanager::start(
        &alertmanager,
        &deploy::alertmanager_config_for_test(&webhook.url()),
    );
    let port = deploy::prometheus_port();
    let config = deploy::prometheus_config_for_test(
        &[a_instance.clone(), c_instance.clone()],
        &am.target(),
        &format!("127.0.0.1:{port}"),
    );
    let rules = deploy::rules_for_test("2s", "1s");
    let file_sd = format!("- targets: [{b_instance:?}]\n");
    let prom = deploy::start_prometheus(
        &prometheus,
        port,
        &config,
        &[
            (RULES_FROM_CONFIG, rules.as_str()),
            ("targets/test.yml", file_sd.as_str()),
        ],
    );

    // Prometheus applies discovered targets every 5 s: wait for its first scrapes, so that
    // it sees the breaker open below.
    a.eventually_sample("p2p_peers", &[], "== 2 on A", |v| v == 2.0);
    eventually("Prometheus scrapes the three exporters", || {
        let up = query(&prom, r#"up{job="dawn"} == 1"#)?;
        let seen: BTreeSet<&str> = up
            .iter()
            .filter_map(|s| s["metric"]["instance"].as_str())
            .collect();
        let want: BTreeSet<&str> = [&a_instance, &b_instance, &c_instance]
            .into_iter()
            .map(String::as_str)
            .collect();
        if seen == want {
            Ok(())
        } else {
            Err(format!("up: {seen:?}"))
        }
    });
    make_traffic(&a, &b, &webhook);

    rule_expressions_return_data(&prom);
    dashboard_expressions_return_data(&prom);

    // Node down → DawnNodeDown reaches the webhook through the critical route.
    let is_node_down = |a: &Value, status: &str| {
        a["labels"]["alertname"] == "DawnNodeDown"
            && a["labels"]["instance"] == b_instance.as_str()
            && a["status"] == status
    };
    b.node.kill();
    let (delivery, alert) = webhook.eventually_alert("DawnNodeDown for B, firing", |_, a| {
        is_node_down(a, "firing")
    });
    assert_eq!(delivery.path, "/critical", "{:#}", delivery.body);
    assert_eq!(delivery.body["receiver"], "dawn-critical");
    assert_eq!(delivery.body["status"], "firing");
    assert_eq!(alert["labels"]["job"], "dawn", "{alert:#}");
    assert_eq!(alert["labels"]["severity"], "critical", "{alert:#}");
    assert_eq!(
        alert["annotations"]["runbook_url"],
        format!("{RUNBOOK_URL}#dawnnodedown").as_str(),
        "{alert:#}"
    );
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains(&b_instance)),
        "{alert:#}"
    );

    // Back up → the resolved notification.
    b.restart_node();
    let (delivery, _) = webhook.eventually_alert("DawnNodeDown for B, resolved", |_, a| {
        is_node_down(a, "resolved")
    });
    assert_eq!(delivery.path, "/critical");
    assert_eq!(delivery.body["status"], "resolved", "{:#}", delivery.body);

    // Nobody else was reported down.
    let others: Vec<String> = webhook
        .deliveries()
        .iter()
        .flat_map(|d| d.alerts())
        .filter(|a| {
            a["labels"]["alertname"] == "DawnNodeDown"
                && a["labels"]["instance"] != b_instance.as_str()
        })
        .map(|a| a.to_string())
        .collect();
    assert!(others.is_empty(), "{others:?}");
    eprintln!("webhook deliveries:{}", summarize(&webhook.deliveries()));
}

/// Makes every metric of the catalogue appear on A: requests that succeed and fail, agent
/// calls of both statuses, a relay that fails (A's breaker for B opens, and
/// `DawnCircuitBreakerOpen` reaches the webhook through the warning route) and one that
/// succeeds (it closes), and a flood past the rate limit.
fn make_traffic(a: &Pair, b: &Pair, webhook: &Webhook) {
    let addr = a.addr();
    let mut r = Caller::new();
    let b_id = r.call(&b.addr(), "node/info", None)["node_id"]
        .as_str()
        .expect("node_id")
        .to_owned();
    let agent = |agent: &str, tool: &str, params: Value| {
        Some(json!({"agent": agent, "tool": tool, "params": params}))
    };
    r.call(&addr, "node/ping", None);
    r.call(&addr, "agent/call", agent("echo", "echo", json!({"x": 1})));
    r.call(
        &addr,
        "agent/call",
        agent("kv", "put", json!({"key": "k", "value": 1})),
    );
    r.call_err(
        &addr,
        "agent/call",
        agent("echo", "reverse", json!({"text": 5})),
    );
    r.call_err(&addr, "no/such/method", None);

    // A relay that times out opens A's breaker for B (threshold 1) ...
    let slow = json!({
        "peer": b_id, "method": "agent/call", "timeout_ms": 100,
        "params": {"agent": "echo", "tool": "delay", "params": {"ms": 500}},
    });
    let e = r.call_err(&addr, "node/relay", Some(slow));
    assert_eq!(e.code, SERVER_ERROR, "{e:?}");
    let peer = [("peer_id", b_id.as_str())];
    a.eventually_sample("p2p_circuit_breaker_state", &peer, "== 1 (open)", |v| {
        v == 1.0
    });
    let a_instance = format!("127.0.0.1:{}", a.exporter.port);
    let (delivery, alert) = webhook.eventually_alert("DawnCircuitBreakerOpen on A", |_, al| {
        al["labels"]["alertname"] == "DawnCircuitBreakerOpen"
            && al["labels"]["instance"] == a_instance.as_str()
            && al["status"] == "firing"
    });
    assert_eq!(delivery.path, "/warning", "{:#}", delivery.body);
    assert_eq!(delivery.body["receiver"], "dawn-warning");
    assert_eq!(alert["labels"]["peer_id"], b_id.as_str(), "{alert:#}");
    assert_eq!(alert["labels"]["severity"], "warning", "{alert:#}");
    // ... and once half-open (after BREAKER_OPEN), a relay that succeeds closes it.
    let ping = json!({"peer": b_id, "method": "node/ping", "timeout_ms": 5000});
    eventually(
        "a relay to B succeeds through the half-open breaker",
        || match r.try_call(&addr, "node/relay", Some(ping.clone())) {
            Ok(Ok(_)) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    a.eventually_sample("p2p_circuit_breaker_state", &peer, "== 0 (closed)", |v| {
        v == 0.0
    });

    // One sender over the limit (100 per 60 s by default).
    let mut flood = Caller::new();
    let limited = (0..200).any(|_| {
        matches!(flood.try_call(&addr, "node/ping", None), Ok(Err(e)) if e.code == RATE_LIMITED)
    });
    assert!(limited, "200 pings from one sender were never rate-limited");
    a.eventually_sample(
        "p2p_rate_limit_rejections_total",
        &[
            ("peer_id", flood.node_id().as_str()),
            ("resource", "message"),
        ],
        ">= 1",
        |v| v >= 1.0,
    );
}

/// A query's outcome that is worth waiting for (`Err`) or not (a panic: it does not parse).
fn query(prom: &Prometheus, expr: &str) -> Result<Vec<Value>, String> {
    let url = format!(
        "http://127.0.0.1:{}/api/v1/query?query={}",
        prom.port,
        percent_encode(expr)
    );
    let r = get(&url)?;
    let body: Value = serde_json::from_str(&r.text()).map_err(|e| format!("{e}: {}", r.text()))?;
    match body["status"].as_str() {
        Some("success") => Ok(body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()),
        _ if body["errorType"] == "bad_data" => {
            panic!("Prometheus refuses the expression {expr:?}: {body}")
        }
        _ => Err(format!("{expr:?}: {body}")),
    }
}

/// Whether `expr` returns data; if it is empty, whether the parts of its outermost operator
/// do (see the module doc). `checked` collects what was actually found non-empty.
fn returns_data(prom: &Prometheus, expr: &str, checked: &mut Vec<String>) -> Result<(), String> {
    if !query(prom, expr)?.is_empty() {
        checked.push(expr.to_owned());
        return Ok(());
    }
    let split = promql::split(expr).ok_or_else(|| format!("no data: {expr}"))?;
    for operand in &split.operands {
        returns_data(prom, operand, checked)
            .map_err(|e| format!("{e}\n    (part of {expr:?}, split at {:?})", split.op))?;
    }
    Ok(())
}

/// Every rule Prometheus loaded from the test copy of the shipped rules returns data.
fn rule_expressions_return_data(prom: &Prometheus) {
    let loaded = deploy::loaded_rules(prom);
    let (alerts, records) = deploy::shipped_rule_names();
    let names: Vec<&str> = loaded.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(
        names.len(),
        alerts.len() + records.len(),
        "loaded: {names:?}"
    );
    let node_down = loaded
        .iter()
        .find(|r| r["name"] == "DawnNodeDown")
        .expect("DawnNodeDown is loaded");
    assert_eq!(
        node_down["duration"], 2.0,
        "the test copy's `for`: {node_down}"
    );

    let mut report = Vec::new();
    eventually("every rule expression returns data", || {
        report.clear();
        let mut failing = Vec::new();
        for rule in &loaded {
            let (name, expr) = (
                rule["name"].as_str().unwrap_or("?"),
                rule["query"].as_str().unwrap_or(""),
            );
            let mut checked = Vec::new();
            match returns_data(prom, expr, &mut checked) {
                Ok(()) if checked == [expr] => {}
                Ok(()) => report.push(format!(
                    "{name}: {expr}\n    → {}",
                    checked.join("\n    → ")
                )),
                Err(e) => failing.push(format!("{name}: {e}")),
            }
        }
        if failing.is_empty() {
            Ok(())
        } else {
            Err(failing.join("\n"))
        }
    });
    eprintln!(
        "rule expressions empty while healthy, checked through their parts:\n{}",
        report.join("\n")
    );
}

/// Every query of the Grafana dashboard, with its variables at "All", returns data.
fn dashboard_expressions_return_data(prom: &Prometheus) {
    let dashboard: Value =
        serde_json::from_str(&deploy::read(deploy::DASHBOARD)).expect("the dashboard is JSON");
    let queries = deploy::dashboard_queries(&dashboard);
    assert!(queries.len() > 20, "{} queries", queries.len());
    eventually("every dashboard query returns data", || {
        let mut failing = Vec::new();
        for q in &queries {
            let expr = deploy::grafana_to_promql(&q.expr, RATE_INTERVAL)?;
            match query(prom, &expr) {
                Ok(result) if !result.is_empty() => {}
                Ok(_) => failing.push(format!("{}: no data: {expr}", q.place)),
                Err(e) => failing.push(format!("{}: {e}", q.place)),
            }
        }
        if failing.is_empty() {
            Ok(())
        } else {
            Err(failing.join("\n"))
        }
    });
}
