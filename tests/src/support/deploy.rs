//! The shipped `deploy/` files (Prometheus configuration and rules, Alertmanager
//! configuration, Grafana dashboard) and `docs/runbook.md`; their test copies, which change
//! only durations, addresses and ports (never an expression); and a Prometheus running them.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::http::get;
use crate::support::process::{free_port, temp_dir};
use crate::support::prometheus::Prometheus;

/// `deploy/prometheus/prometheus.yml`.
pub const PROMETHEUS_CONFIG: &str = "deploy/prometheus/prometheus.yml";
/// `deploy/prometheus/rules/dawn.rules.yml`, as `prometheus.yml` names it (relative to it).
pub const RULES: &str = "deploy/prometheus/rules/dawn.rules.yml";
/// The rule file's path relative to `prometheus.yml`'s directory.
pub const RULES_FROM_CONFIG: &str = "rules/dawn.rules.yml";
/// The directory of the `promtool test rules` files.
pub const RULE_TESTS: &str = "deploy/prometheus/tests";
/// The file_sd example.
pub const TARGETS_EXAMPLE: &str = "deploy/prometheus/targets/dawn-exporters.yml.example";
/// `deploy/alertmanager/alertmanager.yml`.
pub const ALERTMANAGER_CONFIG: &str = "deploy/alertmanager/alertmanager.yml";
/// The Grafana dashboard.
pub const DASHBOARD: &str = "deploy/grafana/dashboards/dawn.json";
/// Grafana's data source provisioning file.
pub const GRAFANA_DATASOURCES: &str = "deploy/grafana/provisioning/datasources/dawn.yml";
/// Grafana's dashboard provider file.
pub const GRAFANA_DASHBOARDS: &str = "deploy/grafana/provisioning/dashboards/dawn.yml";
/// The runbook the alerts' `runbook_url`s point into.
pub const RUNBOOK: &str = "docs/runbook.md";
/// Where `runbook_url`s point: the runbook in the repository, then `#anchor`.
pub const RUNBOOK_URL: &str = "https://example.invalid/dawn/blob/main/docs/runbook.md";

/// The scrape job of the exporters in the shipped `prometheus.yml`; rules select it.
pub const JOB: &str = "dawn";

/// Placeholders of the shipped `prometheus.yml` that its test copy replaces.
const STATIC_TARGET: &str =
    "\"node-1-exporter:9090\", \"node-2-exporter:9090\", \"node-3-exporter:9090\"";
const ALERTMANAGER_TARGET: &str = "\"alertmanager:9093\"";
const SELF_TARGET: &str = "\"localhost:9090\"";
/// The webhook host of the shipped `alertmanager.yml`.
pub const WEBHOOK_PLACEHOLDER: &str = "http://dawn-alert-webhook:5001";

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace")
        .to_owned()
}

/// The absolute path of `relative` (to the workspace root).
pub fn path(relative: &str) -> PathBuf {
    workspace().join(relative)
}

/// The text of the shipped file `relative`; fails the test when it cannot be read.
#[track_caller]
pub fn read(relative: &str) -> String {
    std::fs::read_to_string(path(relative))
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

/// The `promtool test rules` files, sorted.
#[track_caller]
pub fn rule_test_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(path(RULE_TESTS))
        .unwrap_or_else(|e| panic!("cannot list {RULE_TESTS}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    files.sort();
    files
}

/// Replaces the value of every `key: value` line whose key (after indentation) is `key`.
/// Returns the new text and how many lines changed.
pub fn set_yaml_values(text: &str, key: &str, value: &str) -> (String, usize) {
    let prefix = format!("{key}:");
    let mut changed = 0;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(&prefix)
            && !rest.trim().is_empty()
            && !rest.trim_start().starts_with('#')
        {
            let indent = &line[..line.len() - trimmed.len()];
            out.push_str(&format!("{indent}{prefix} {value}\n"));
            changed += 1;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    (out, changed)
}

/// The shipped rules with every `for:` set to `for_` and every `keep_firing_for:` to
/// `keep`; nothing else changes (so the expressions are exactly the shipped ones).
#[track_caller]
pub fn rules_for_test(for_: &str, keep: &str) -> String {
    let (text, n) = set_yaml_values(&read(RULES), "for", for_);
    assert!(n > 0, "{RULES} has no `for:` line to shorten");
    let (text, _) = set_yaml_values(&text, "keep_firing_for", keep);
    text
}

/// The shipped rules with the `for:` of some alerts shortened, each given as `(alert,
/// shipped, test)`: the one `for: SHIPPED` line of rule `alert` becomes `for: TEST`, and
/// nothing else changes (every other alert keeps its shipped duration, every expression is
/// the shipped one). Fails the test when an alert is missing or its rule has no
/// `for: SHIPPED` line, so that a test that shortens a duration notices when the rule
/// changes shape instead of silently testing something else.
#[track_caller]
pub fn rules_with_for(changes: &[(&str, &str, &str)]) -> String {
    let shipped = read(RULES);
    let mut done = vec![0usize; changes.len()];
    let mut rule: Option<&str> = None;
    let mut out = String::with_capacity(shipped.len());
    for line in shipped.lines() {
        let trimmed = line.trim_start();
        if let Some(name) = trimmed.strip_prefix("- alert:") {
            rule = Some(name.trim());
        } else if trimmed.starts_with("- record:") || trimmed.starts_with("- name:") {
            rule = None;
        }
        let change = rule.and_then(|r| {
            changes.iter().position(|(alert, from, _)| {
                *alert == r && trimmed.strip_prefix("for:").map(str::trim) == Some(*from)
            })
        });
        match change {
            Some(i) => {
                let indent = &line[..line.len() - trimmed.len()];
                out.push_str(&format!("{indent}for: {}\n", changes[i].2));
                done[i] += 1;
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for ((alert, from, _), n) in changes.iter().zip(done) {
        assert_eq!(
            n, 1,
            "{RULES}: alert {alert} should have exactly one `for: {from}` line; its rule changed \
             shape, so update the test that shortens it"
        );
    }
    out
}

/// The shipped `prometheus.yml` for a test: 1 s scrape and evaluation intervals, the
/// exporters at `static_targets` (instead of docker-compose.yml's three exporters), Alertmanager at
/// `alertmanager`, itself at `self_target`. Its file_sd and rule file paths stay as shipped.
#[track_caller]
pub fn prometheus_config_for_test(
    static_targets: &[String],
    alertmanager: &str,
    self_target: &str,
) -> String {
    let mut text = read(PROMETHEUS_CONFIG);
    for (key, value) in [
        ("scrape_interval", "1s"),
        ("scrape_timeout", "1s"),
        ("evaluation_interval", "1s"),
        ("refresh_interval", "1s"),
    ] {
        let (t, n) = set_yaml_values(&text, key, value);
        assert!(n > 0, "{PROMETHEUS_CONFIG} has no `{key}:` any more");
        text = t;
    }
    let targets = static_targets
        .iter()
        .map(|t| format!("{t:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    for (placeholder, value) in [
        (STATIC_TARGET, targets),
        (ALERTMANAGER_TARGET, format!("{alertmanager:?}")),
        (SELF_TARGET, format!("{self_target:?}")),
    ] {
        assert!(
            text.contains(placeholder),
            "{PROMETHEUS_CONFIG} no longer contains {placeholder}: update support/deploy.rs"
        );
        text = text.replace(placeholder, &value);
    }
    text
}

/// The shipped `alertmanager.yml` for a test: webhooks at `webhook` (instead of
/// `http://dawn-alert-webhook:5001`), `group_wait`/`group_interval` 1 s, `repeat_interval`
/// 1 h. Routes, receivers and inhibitions stay as shipped.
#[track_caller]
pub fn alertmanager_config_for_test(webhook: &str) -> String {
    let text = read(ALERTMANAGER_CONFIG);
    assert!(
        text.contains(WEBHOOK_PLACEHOLDER),
        "{ALERTMANAGER_CONFIG} no longer contains {WEBHOOK_PLACEHOLDER}: update support/deploy.rs"
    );
    let text = text.replace(WEBHOOK_PLACEHOLDER, webhook);
    let (text, _) = set_yaml_values(&text, "group_wait", "1s");
    let (text, _) = set_yaml_values(&text, "group_interval", "1s");
    let (text, _) = set_yaml_values(&text, "repeat_interval", "1h");
    text
}

/// `text` with the lines between `# BEGIN example` and `# END example` uncommented (one
/// `#` and the space after it removed from each).
pub fn uncomment_examples(text: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("# BEGIN example") {
            inside = true;
        } else if trimmed.starts_with("# END example") {
            inside = false;
        } else if inside && let Some(rest) = trimmed.strip_prefix('#') {
            let indent = &line[..line.len() - trimmed.len()];
            let rest = rest.strip_prefix(' ').unwrap_or(rest);
            out.push_str(indent);
            out.push_str(rest);
            out.push('\n');
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Starts `binary` with the configuration `config`, written as `prometheus.yml` into a new
/// directory beside `files` (relative path, content); waits until it is ready. `port` is
/// the port it listens on (the config may name it, for its self-scrape).
#[track_caller]
pub fn start_prometheus(
    binary: &Path,
    port: u16,
    config: &str,
    files: &[(&str, &str)],
) -> Prometheus {
    let dir = temp_dir();
    for (relative, content) in files {
        let p = dir.path().join(relative);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create a config directory");
        }
        std::fs::write(&p, content).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    }
    Prometheus::run(
        binary,
        dir,
        port,
        config,
        // Send every alert state change to Alertmanager at once, and resend each second.
        &["--rules.alert.resend-delay=1s"],
    )
}

/// A free port for a Prometheus (see [`start_prometheus`]).
pub fn prometheus_port() -> u16 {
    free_port()
}

/// Every rule Prometheus loaded (`/api/v1/rules`), each with its group's name added as
/// `"group"`.
#[track_caller]
pub fn loaded_rules(prom: &Prometheus) -> Vec<Value> {
    let r = get(&format!("http://127.0.0.1:{}/api/v1/rules", prom.port))
        .unwrap_or_else(|e| panic!("{e}"));
    let body = r.json();
    assert_eq!(body["status"], "success", "/api/v1/rules: {body}");
    let mut rules = Vec::new();
    for group in body["data"]["groups"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        for mut rule in group["rules"].as_array().cloned().unwrap_or_default() {
            rule["group"] = group["name"].clone();
            rules.push(rule);
        }
    }
    rules
}

/// Names of the alerts and recorded series of the shipped rule file, from its
/// `- alert: NAME` and `- record: NAME` lines.
#[track_caller]
pub fn shipped_rule_names() -> (Vec<String>, Vec<String>) {
    let (mut alerts, mut records) = (Vec::new(), Vec::new());
    for line in read(RULES).lines() {
        let t = line.trim_start();
        if let Some(name) = t.strip_prefix("- alert:") {
            alerts.push(name.trim().to_owned());
        } else if let Some(name) = t.strip_prefix("- record:") {
            records.push(name.trim().to_owned());
        }
    }
    (alerts, records)
}

/// The cases of a `promtool test rules` file as `(alertname, fires)`: `fires` is false for
/// `exp_alerts: []` and true for `exp_alerts:` followed by a list (or a `*alias` of one).
pub fn alert_test_cases(text: &str) -> Vec<(String, bool)> {
    let mut cases = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let t = line.trim_start().trim_start_matches("- ");
        if let Some(name) = t.strip_prefix("alertname:") {
            current = Some(name.trim().to_owned());
        } else if let Some(rest) = t.strip_prefix("exp_alerts:")
            && let Some(name) = current.take()
        {
            let rest = rest.trim();
            cases.push((name, rest != "[]"));
        }
    }
    cases
}

/// The GitHub anchors of every heading of a Markdown text.
pub fn markdown_anchors(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| {
            l.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect()
}

/// One query of the dashboard: where it is and its PromQL as Grafana holds it.
#[derive(Debug, Clone)]
pub struct DashboardQuery {
    /// `panel "TITLE" target A`, or `variable NAME`.
    pub place: String,
    /// The expression, with Grafana's variables.
    pub expr: String,
}

/// Every panel (rows included, at any depth).
pub fn dashboard_panels(dashboard: &Value) -> Vec<Value> {
    fn walk(panels: &Value, out: &mut Vec<Value>) {
        for p in panels.as_array().into_iter().flatten() {
            out.push(p.clone());
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// Every PromQL query of the dashboard: each panel target's `expr` and each query
/// variable's query.
pub fn dashboard_queries(dashboard: &Value) -> Vec<DashboardQuery> {
    let mut out = Vec::new();
    for panel in dashboard_panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                out.push(DashboardQuery {
                    place: format!(
                        "panel {:?} target {}",
                        panel["title"].as_str().unwrap_or("?"),
                        target["refId"].as_str().unwrap_or("?")
                    ),
                    expr: expr.to_owned(),
                });
            }
        }
    }
    for var in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if var["type"] == "query" {
            let query = var["query"]["query"]
                .as_str()
                .or_else(|| var["query"].as_str())
                .unwrap_or("");
            out.push(DashboardQuery {
                place: format!("variable {}", var["name"].as_str().unwrap_or("?")),
                expr: query.to_owned(),
            });
        }
    }
    out
}

/// What Grafana would send for a dashboard query with every variable at "All":
/// `$__rate_interval` becomes `rate_interval`, `$job`/`$instance` (any spelling) `.+`, and a
/// variable query `label_values(SELECTOR, LABEL)` its selector. Fails on any other `$`.
pub fn grafana_to_promql(expr: &str, rate_interval: &str) -> Result<String, String> {
    let mut q = expr.trim().to_owned();
    if let Some(inner) = q
        .strip_prefix("label_values(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let selector = match inner.rfind(',') {
            Some(i) => inner[..i].trim(),
            None => inner.trim(),
        };
        q = selector.to_owned();
    }
    for (var, value) in [
        ("${__rate_interval}", rate_interval),
        ("$__rate_interval", rate_interval),
        ("${job}", ".+"),
        ("$job", ".+"),
        ("${instance}", ".+"),
        ("$instance", ".+"),
    ] {
        q = q.replace(var, value);
    }
    if q.contains('$') {
        return Err(format!("unknown Grafana variable in {expr:?}"));
    }
    Ok(q)
}
