//! The shipped monitoring files, checked by the real tools without a cluster:
//! `promtool check rules`/`check config`/`test rules` on `deploy/prometheus`, `amtool
//! check-config` and `amtool config routes test` on `deploy/alertmanager`, its inhibitions
//! in a real Alertmanager fed alerts by `amtool alert add`, the structure of every loaded
//! rule as Prometheus itself reports it, and the Grafana files.
//! (`alerting.rs` runs the same files against a live cluster.)
//!
//! Without the tools these tests are reported as ignored (with the reason after the run),
//! and fail under `CI=true`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, ExitCode};

use dawn_tests::support::alertmanager::Alertmanager;
use dawn_tests::support::deploy::{
    self, ALERTMANAGER_CONFIG, DASHBOARD, GRAFANA_DASHBOARDS, GRAFANA_DATASOURCES, JOB,
    PROMETHEUS_CONFIG, RULES, RULES_FROM_CONFIG, RUNBOOK, RUNBOOK_URL, TARGETS_EXAMPLE,
};
use dawn_tests::support::eventually::eventually;
use dawn_tests::support::harness;
use dawn_tests::support::http::get;
use dawn_tests::support::process::temp_dir;
use dawn_tests::support::tools::{ALERTMANAGER, AMTOOL, PROMETHEUS, PROMTOOL};
use dawn_tests::trial;
use serde_json::Value;

/// Runs `program args`; returns (success, stdout + stderr).
#[track_caller]
fn run(program: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(deploy::workspace())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn main() -> ExitCode {
    harness::main(vec![
        trial!(promtool_checks_the_rules_and_the_config_with_the_file_sd_example).needs(PROMTOOL),
        trial!(promtool_unit_tests_of_the_rules_pass).needs(PROMTOOL),
        trial!(every_alert_has_a_firing_and_a_quiet_unit_test),
        trial!(every_alert_is_labelled_annotated_and_has_a_runbook_section).needs(PROMETHEUS),
        trial!(alertmanager_config_is_valid_with_its_examples_and_routes_by_severity).needs(AMTOOL),
        trial!(fleet_and_isolation_alerts_hold_back_the_alerts_they_explain)
            .needs(ALERTMANAGER)
            .needs(AMTOOL),
        trial!(grafana_dashboard_and_provisioning_are_well_formed),
    ])
}

fn promtool_checks_the_rules_and_the_config_with_the_file_sd_example() {
    let promtool = PROMTOOL.path();
    let (ok, report) = run(&promtool, &["check", "rules", RULES]);
    assert!(ok, "promtool check rules {RULES}:\n{report}");

    // The config as shipped: its rule file resolves, its syntax is valid.
    let (ok, report) = run(&promtool, &["check", "config", PROMETHEUS_CONFIG]);
    assert!(ok, "promtool check config {PROMETHEUS_CONFIG}:\n{report}");

    // The same with the file_sd example in place, so that promtool validates it too.
    let dir = temp_dir();
    std::fs::create_dir_all(dir.path().join("rules")).expect("mkdir rules");
    std::fs::create_dir_all(dir.path().join("targets")).expect("mkdir targets");
    std::fs::write(
        dir.path().join("prometheus.yml"),
        deploy::read(PROMETHEUS_CONFIG),
    )
    .expect("copy prometheus.yml");
    std::fs::write(dir.path().join(RULES_FROM_CONFIG), deploy::read(RULES))
        .expect("copy the rules");
    std::fs::write(
        dir.path().join("targets/dawn-exporters.yml"),
        deploy::read(TARGETS_EXAMPLE),
    )
    .expect("copy the file_sd example");
    let config = dir.path().join("prometheus.yml");
    let (ok, report) = run(
        &promtool,
        &["check", "config", config.to_str().expect("UTF-8 path")],
    );
    assert!(
        ok && !report.contains("WARNING"),
        "promtool check config with {TARGETS_EXAMPLE} as targets/dawn-exporters.yml:\n{report}"
    );
}

fn promtool_unit_tests_of_the_rules_pass() {
    let promtool = PROMTOOL.path();
    let files = deploy::rule_test_files();
    assert!(!files.is_empty(), "no promtool test files");
    let mut args = vec!["test", "rules"];
    args.extend(files.iter().map(|p| p.to_str().expect("UTF-8 path")));
    let (ok, report) = run(&promtool, &args);
    assert!(ok, "promtool test rules:\n{report}");
    assert_eq!(
        report.matches("SUCCESS").count(),
        files.len(),
        "every test file succeeds:\n{report}"
    );
}

/// Every alert has a unit test in which it fires and one in which it does not; every test
/// names a real alert.
fn every_alert_has_a_firing_and_a_quiet_unit_test() {
    let (alerts, _) = deploy::shipped_rule_names();
    assert!(alerts.len() >= 10, "{alerts:?}");
    let mut cases: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for file in deploy::rule_test_files() {
        let text = std::fs::read_to_string(&file).expect("read a test file");
        for (alert, fires) in deploy::alert_test_cases(&text) {
            assert!(
                alerts.contains(&alert),
                "{} tests {alert}, which is not an alert of {RULES}",
                file.display()
            );
            let c = cases.entry(alert).or_default();
            if fires {
                c.0 += 1;
            } else {
                c.1 += 1;
            }
        }
    }
    let mut missing = Vec::new();
    for alert in &alerts {
        let (fires, quiet) = cases.get(alert).copied().unwrap_or_default();
        if fires == 0 {
            missing.push(format!("{alert}: no case where it fires"));
        }
        if quiet == 0 {
            missing.push(format!("{alert}: no case where it does not fire"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// Every rule as Prometheus loads it: each alert has `severity` critical or warning, a
/// `summary`, a `description` and a `runbook_url` into a section of docs/runbook.md named
/// after it; recorded names follow `level:metric:operations`.
fn every_alert_is_labelled_annotated_and_has_a_runbook_section() {
    let prometheus = PROMETHEUS.path();
    let port = deploy::prometheus_port();
    let config =
        format!("global:\n  evaluation_interval: 1s\nrule_files:\n  - {RULES_FROM_CONFIG}\n");
    let rules_text = deploy::read(RULES);
    let prom = deploy::start_prometheus(
        &prometheus,
        port,
        &config,
        &[(RULES_FROM_CONFIG, &rules_text)],
    );
    let loaded = deploy::loaded_rules(&prom);
    let (alerts, records) = deploy::shipped_rule_names();
    assert_eq!(
        loaded.len(),
        alerts.len() + records.len(),
        "Prometheus loaded every rule of {RULES}"
    );

    let anchors: BTreeSet<String> = deploy::markdown_anchors(&deploy::read(RUNBOOK))
        .into_iter()
        .collect();
    let mut problems = Vec::new();
    for rule in &loaded {
        let name = rule["name"].as_str().unwrap_or("?");
        if rule["type"] == "recording" {
            if name.split(':').count() != 3 {
                problems.push(format!(
                    "recording rule {name}: not level:metric:operations"
                ));
            }
            continue;
        }
        let severity = rule["labels"]["severity"].as_str().unwrap_or("");
        if !["critical", "warning"].contains(&severity) {
            problems.push(format!("{name}: severity {severity:?}"));
        }
        for key in ["summary", "description", "runbook_url"] {
            if rule["annotations"][key]
                .as_str()
                .unwrap_or("")
                .trim()
                .is_empty()
            {
                problems.push(format!("{name}: no {key}"));
            }
        }
        let url = rule["annotations"]["runbook_url"].as_str().unwrap_or("");
        let expected = format!("{RUNBOOK_URL}#{}", name.to_lowercase());
        if url != expected {
            problems.push(format!(
                "{name}: runbook_url {url:?}, expected {expected:?}"
            ));
        }
        if !anchors.contains(&name.to_lowercase()) {
            problems.push(format!("{name}: {RUNBOOK} has no section `## {name}`"));
        }
        if !name.starts_with("Dawn") {
            problems.push(format!("{name}: Dawn alerts are named Dawn*"));
        }
    }
    // The job the rules select is the job prometheus.yml defines.
    assert!(
        deploy::read(PROMETHEUS_CONFIG).contains(&format!("job_name: {JOB}\n")),
        "{PROMETHEUS_CONFIG} defines job {JOB:?}"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn alertmanager_config_is_valid_with_its_examples_and_routes_by_severity() {
    let amtool = AMTOOL.path();
    let (ok, report) = run(&amtool, &["check-config", ALERTMANAGER_CONFIG]);
    assert!(ok, "amtool check-config {ALERTMANAGER_CONFIG}:\n{report}");

    // The commented e-mail and chat examples are valid once uncommented.
    let shipped = deploy::read(ALERTMANAGER_CONFIG);
    let examples = deploy::uncomment_examples(&shipped);
    assert!(
        examples.contains("email_configs:") && examples.contains("slack_configs:"),
        "the examples are there"
    );
    let dir = temp_dir();
    let with_examples = dir.path().join("alertmanager.yml");
    std::fs::write(&with_examples, &examples).expect("write the uncommented config");
    let with_examples = with_examples.to_str().expect("UTF-8 path");
    let (ok, report) = run(&amtool, &["check-config", with_examples]);
    assert!(
        ok,
        "amtool check-config with the examples uncommented:\n{report}\n{examples}"
    );

    // Routing by severity, with and without the examples.
    for config in [ALERTMANAGER_CONFIG, with_examples] {
        for (labels, receiver) in [
            (
                &["severity=critical", "alertname=DawnNodeDown"][..],
                "dawn-critical",
            ),
            (
                &["severity=warning", "alertname=DawnNoPeers"][..],
                "dawn-warning",
            ),
            (&["alertname=SomethingElse"][..], "dawn-warning"),
        ] {
            let mut args = vec!["config", "routes", "test", "--config.file", config];
            args.extend_from_slice(labels);
            let (ok, report) = run(&amtool, &args);
            let got = report
                .lines()
                .filter(|l| !l.starts_with("Warning:"))
                .collect::<Vec<_>>()
                .join("\n");
            assert!(
                ok && got.trim() == receiver,
                "{labels:?} in {config}: {report}"
            );
        }
    }
}

/// The shipped inhibitions, in a real Alertmanager running the shipped config: alerts are
/// posted with `amtool alert add`, and Alertmanager's own API says which are held back.
fn fleet_and_isolation_alerts_hold_back_the_alerts_they_explain() {
    let am = Alertmanager::start(&ALERTMANAGER.path(), &deploy::read(ALERTMANAGER_CONFIG));
    let url = format!("--alertmanager.url=http://{}", am.target());
    // (labels, whether Alertmanager must hold the alert back)
    let cases: &[(&[&str], bool)] = &[
        (
            &[
                "alertname=DawnFleetNodesDown",
                "job=dawn",
                "severity=critical",
            ],
            false,
        ),
        // Nodes of the fleet that is down: its page explains theirs.
        (
            &[
                "alertname=DawnNodeDown",
                "job=dawn",
                "instance=a:9464",
                "severity=critical",
            ],
            true,
        ),
        (
            &[
                "alertname=DawnExporterDown",
                "job=dawn",
                "instance=b:9464",
                "severity=critical",
            ],
            true,
        ),
        // Other fleets (another namespace, another job) still page per node.
        (
            &[
                "alertname=DawnNodeDown",
                "job=dawn",
                "namespace=edge",
                "instance=c:9464",
                "severity=critical",
            ],
            false,
        ),
        (
            &[
                "alertname=DawnNodeDown",
                "job=lab",
                "instance=d:9464",
                "severity=critical",
            ],
            false,
        ),
        // An isolated node: "no peers" is the less precise alert of the same node.
        (
            &[
                "alertname=DawnNodeIsolated",
                "job=dawn",
                "instance=e:9464",
                "severity=warning",
            ],
            false,
        ),
        (
            &[
                "alertname=DawnNoPeers",
                "job=dawn",
                "instance=e:9464",
                "severity=warning",
            ],
            true,
        ),
        (
            &[
                "alertname=DawnNoPeers",
                "job=dawn",
                "instance=f:9464",
                "severity=warning",
            ],
            false,
        ),
    ];
    let amtool = AMTOOL.path();
    for (labels, _) in cases {
        let mut args = vec![url.as_str(), "alert", "add"];
        args.extend_from_slice(labels);
        let (ok, report) = run(&amtool, &args);
        assert!(ok, "amtool alert add {labels:?}: {report}");
    }
    // A case's key: its labels but severity, sorted, as Alertmanager's API gives them.
    let key = |labels: &mut dyn Iterator<Item = (String, String)>| {
        let mut pairs: Vec<String> = labels
            .filter(|(name, _)| name != "severity")
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        pairs.sort();
        pairs.join(",")
    };
    let expected: BTreeMap<String, &str> = cases
        .iter()
        .map(|(labels, held)| {
            let mut pairs = labels
                .iter()
                .filter_map(|l| l.split_once('=').map(|(n, v)| (n.to_owned(), v.to_owned())));
            (key(&mut pairs), if *held { "suppressed" } else { "active" })
        })
        .collect();
    let alerts_url = format!("http://{}/api/v2/alerts", am.target());
    eventually(
        "Alertmanager holds back exactly the explained alerts",
        || {
            let response = get(&alerts_url)?;
            let Value::Array(alerts) = response.json() else {
                return Err(format!("not a list of alerts: {}", response.text()));
            };
            let got: BTreeMap<String, &str> = alerts
                .iter()
                .map(|a| {
                    let mut pairs = a["labels"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(n, v)| (n.clone(), v.as_str().unwrap_or_default().to_owned()));
                    let state = match a["status"]["state"].as_str() {
                        Some("suppressed") => "suppressed",
                        Some("active") => "active",
                        _ => "other",
                    };
                    (key(&mut pairs), state)
                })
                .collect();
            if got == expected {
                Ok(())
            } else {
                Err(format!("expected {expected:#?}\ngot {got:#?}"))
            }
        },
    );
}

fn grafana_dashboard_and_provisioning_are_well_formed() {
    let dashboard: Value =
        serde_json::from_str(&deploy::read(DASHBOARD)).expect("the dashboard is JSON");
    assert_eq!(dashboard["uid"], "dawn-overview");
    assert!(dashboard["title"].as_str().is_some_and(|t| !t.is_empty()));
    let vars: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(vars, ["datasource", "job", "instance"]);

    let panels = deploy::dashboard_panels(&dashboard);
    let mut ids = BTreeSet::new();
    let mut problems = Vec::new();
    let (_, records) = deploy::shipped_rule_names();
    for p in &panels {
        let title = p["title"].as_str().unwrap_or("?");
        if !ids.insert(p["id"].as_u64().unwrap_or(0)) {
            problems.push(format!("{title}: duplicate id {}", p["id"]));
        }
        let g = &p["gridPos"];
        let (x, w) = (g["x"].as_u64().unwrap_or(99), g["w"].as_u64().unwrap_or(99));
        if x + w > 24 || g["h"].as_u64().unwrap_or(0) == 0 {
            problems.push(format!("{title}: gridPos {g}"));
        }
        if p["type"] == "row" {
            continue;
        }
        if p["datasource"]["uid"] != "${datasource}" {
            problems.push(format!("{title}: datasource {}", p["datasource"]));
        }
        let targets = p["targets"].as_array().cloned().unwrap_or_default();
        if targets.is_empty() {
            problems.push(format!("{title}: no targets"));
        }
        let ref_ids: BTreeSet<&str> = targets.iter().filter_map(|t| t["refId"].as_str()).collect();
        if ref_ids.len() != targets.len() {
            problems.push(format!("{title}: refIds not unique"));
        }
    }
    for q in deploy::dashboard_queries(&dashboard) {
        if let Err(e) = deploy::grafana_to_promql(&q.expr, "1m") {
            problems.push(format!("{}: {e}", q.place));
        }
        // Every recorded series it reads is one the rules record.
        for word in q
            .expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .filter(|w| w.contains(':') && !w.starts_with(':'))
        {
            if !records.iter().any(|r| r == word) {
                problems.push(format!("{}: {word} is not recorded by {RULES}", q.place));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    let datasources = deploy::read(GRAFANA_DATASOURCES);
    assert!(datasources.contains("apiVersion: 1") && datasources.contains("type: prometheus"));
    let providers = deploy::read(GRAFANA_DASHBOARDS);
    assert!(providers.contains("apiVersion: 1") && providers.contains("type: file"));
}
