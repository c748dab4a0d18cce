//! `deploy/kubernetes/`, checked without a cluster:
//!
//! - the generated manifests (the PrometheusRule from `deploy/prometheus/rules/dawn.rules.yml`,
//!   the dashboard ConfigMap from `deploy/grafana/dashboards/dawn.json`) equal what their
//!   sources generate now; `DAWN_BLESS=1` rewrites them instead;
//! - `kustomization.yaml` lists exactly the manifests of the directory;
//! - every Kubernetes object validates against the Kubernetes 1.33 schemas with
//!   `kubernetes-validate --strict` (PyPI), and every prometheus-operator object against the
//!   `openAPIV3Schema` of its CRD (`tests/fixtures/kubernetes/`) with Python's `jsonschema`,
//!   unknown fields refused as the API server's strict field validation does;
//! - the objects fit together: the exporter is a native sidecar sharing the node's socket,
//!   the probes call the exporter's endpoints, the bootstrap names exist in the headless
//!   Service, the PodMonitor gives the rules' job, every container meets Restricted Pod
//!   Security and has requests and limits.
//!
//! Without `python3` and `kubernetes-validate` the validation tests are reported as ignored
//! (with the reason after the run), and fail under `CI=true`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use dawn_tests::support::deploy::{self, DASHBOARD, JOB, RULES};
use dawn_tests::support::harness;
use dawn_tests::support::tools::PythonModules;
use dawn_tests::trial;
use serde::Deserialize;
use serde_json::{Value, json};

/// The manifests' directory.
const DIR: &str = "deploy/kubernetes";
/// The kustomization (not a Kubernetes object).
const KUSTOMIZATION: &str = "kustomization.yaml";
/// The PrometheusRule generated from [`RULES`].
const PROMETHEUS_RULE: &str = "deploy/kubernetes/prometheusrule.yaml";
/// The ConfigMap generated from [`DASHBOARD`].
const DASHBOARD_CONFIGMAP: &str = "deploy/kubernetes/grafana-dashboard.yaml";
/// The key of the dashboard in its ConfigMap.
const DASHBOARD_KEY: &str = "dawn.json";
/// The trimmed CRD schemas the custom resources are validated against.
const CRD_SCHEMAS: &str = "tests/fixtures/kubernetes";
/// The Kubernetes version the manifests must be valid for.
const KUBERNETES_VERSION: &str = "1.33";
/// What `.ci/run` installs.
const KUBERNETES_VALIDATE: &str = "kubernetes-validate==1.37.0";
/// The validation of the Kubernetes objects.
const VALIDATE: PythonModules = PythonModules {
    modules: &["kubernetes_validate"],
    requirement: KUBERNETES_VALIDATE,
};
/// The validation of the custom resources: `jsonschema` comes with kubernetes-validate.
const JSONSCHEMA: PythonModules = PythonModules {
    modules: &["jsonschema", "kubernetes_validate"],
    requirement: KUBERNETES_VALIDATE,
};
/// Set to `1` to rewrite the generated manifests.
const BLESS: &str = "DAWN_BLESS";
/// The command that regenerates them.
const REGENERATE: &str = "DAWN_BLESS=1 cargo test -p dawn-tests --test kubernetes";
/// Where the image puts the binaries (the Dockerfile).
const NODE_BINARY: &str = "/usr/local/bin/dawn-node";
const EXPORTER_BINARY: &str = "/usr/local/bin/dawn-exporter";
/// The image's name in the manifests, which kustomization.yaml's `images` rewrites.
const IMAGE: &str = "dawn";

// ---------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------

/// The header of a generated file: where it comes from and how to regenerate it.
fn generated_header(source: &str) -> String {
    format!(
        "# GENERATED from {source} by tests/tests/kubernetes.rs: do not edit.\n\
         # After changing {source}, regenerate with\n\
         #   {REGENERATE}\n\
         # (`cargo test -p dawn-tests --test kubernetes` fails while they differ).\n"
    )
}

/// Indents every non-empty line of `text` by `by` spaces (empty lines stay empty, so block
/// scalars keep their content).
fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    let mut out = String::with_capacity(text.len() + text.lines().count() * by);
    for line in text.lines() {
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// The PrometheusRule: the rule file's `groups:` block, unchanged, indented under `spec:`.
#[track_caller]
fn generate_prometheus_rule(rules: &str) -> String {
    let lines: Vec<&str> = rules.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == "groups:")
        .unwrap_or_else(|| panic!("{RULES} has no top-level `groups:` line"));
    for line in &lines[start + 1..] {
        let top_level = line.starts_with(|c: char| !c.is_whitespace() && c != '#');
        assert!(
            !top_level,
            "{RULES}: `groups:` must be its last top-level key (found `{line}`), so that the \
             PrometheusRule can embed it"
        );
    }
    let groups = lines[start..].join("\n");
    format!(
        "{header}#\n\
         # Dawn's recording and alerting rules for prometheus-operator. A Prometheus loads them\n\
         # only when its ruleSelector matches this object (kube-prometheus-stack: the label\n\
         # `release: <its release name>`; docs/deploy.md).\n\
         apiVersion: monitoring.coreos.com/v1\n\
         kind: PrometheusRule\n\
         metadata:\n  name: dawn\n\
         spec:\n{groups}",
        header = generated_header(RULES),
        groups = indent(&groups, 2),
    )
}

/// The dashboard ConfigMap: the JSON file, unchanged, as a block scalar.
#[track_caller]
fn generate_dashboard_configmap(dashboard: &str) -> String {
    assert!(
        dashboard.starts_with('{') && dashboard.ends_with("}\n") && !dashboard.ends_with("\n\n"),
        "{DASHBOARD} must start with `{{` and end with `}}` and one newline, so that a YAML \
         block scalar holds it exactly"
    );
    format!(
        "{header}#\n\
         # The Grafana dashboard for Grafana's dashboard sidecar (kube-prometheus-stack's\n\
         # grafana.sidecar.dashboards), which loads every ConfigMap labelled\n\
         # grafana_dashboard: \"1\" in the namespaces it watches; the sidecar puts it in the\n\
         # folder `grafana_folder` names when its folderAnnotation is grafana_folder.\n\
         apiVersion: v1\n\
         kind: ConfigMap\n\
         metadata:\n  name: dawn-grafana-dashboard\n  labels:\n    grafana_dashboard: \"1\"\n\
         \x20 annotations:\n    grafana_folder: Dawn\n\
         data:\n  {DASHBOARD_KEY}: |\n{json}",
        header = generated_header(DASHBOARD),
        json = indent(dashboard, 4),
    )
}

/// Compares the committed `target` with `generated`, or rewrites it under `DAWN_BLESS=1`.
#[track_caller]
fn check_generated(target: &str, source: &str, generated: &str) {
    if std::env::var(BLESS).is_ok_and(|v| v == "1") {
        // Through a temporary file and a rename, so that the other tests, which read the
        // manifests at the same time, see the old file or the new one, never half of it.
        let path = deploy::path(target);
        let temporary = path.with_extension("yaml.tmp");
        std::fs::write(&temporary, generated)
            .and_then(|()| std::fs::rename(&temporary, &path))
            .unwrap_or_else(|e| panic!("cannot write {target}: {e}"));
        eprintln!("{BLESS}=1: wrote {target} from {source}");
        return;
    }
    let committed = std::fs::read_to_string(deploy::path(target))
        .unwrap_or_else(|e| panic!("cannot read {target} ({e}); generate it with `{REGENERATE}`"));
    if committed == generated {
        return;
    }
    let (line, ours, theirs) = committed
        .lines()
        .chain(std::iter::repeat("<end of file>"))
        .zip(generated.lines().chain(std::iter::repeat("<end of file>")))
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| (i + 1, a, b))
        .unwrap_or((0, "", ""));
    panic!(
        "{target} is not what {source} generates: regenerate it with `{REGENERATE}` and commit \
         it.\nfirst difference at line {line}:\n  committed: {ours}\n  generated: {theirs}"
    );
}

fn main() -> ExitCode {
    harness::main(vec![
        trial!(the_generated_manifests_are_up_to_date_and_carry_their_sources_exactly),
        trial!(the_kustomization_lists_exactly_the_manifests_and_names_the_image),
        trial!(every_kubernetes_object_validates_against_the_kubernetes_1_33_schemas)
            .needs(VALIDATE),
        trial!(every_custom_resource_validates_against_its_crd_schema).needs(JSONSCHEMA),
        trial!(the_statefulset_runs_the_exporter_as_a_native_sidecar_with_probes_on_its_endpoints),
        trial!(every_container_meets_restricted_pod_security_and_has_requests_and_limits),
    ])
}

fn the_generated_manifests_are_up_to_date_and_carry_their_sources_exactly() {
    let rules = deploy::read(RULES);
    let dashboard = deploy::read(DASHBOARD);
    let rule = generate_prometheus_rule(&rules);
    let configmap = generate_dashboard_configmap(&dashboard);

    // What a YAML parser reads from the generated text is the source itself: the rules'
    // `groups` as one value, the dashboard byte for byte.
    let source: Value = serde_yaml_ng::from_str(&rules).expect("the rules are YAML");
    let parsed = documents(PROMETHEUS_RULE, &rule);
    assert_eq!(parsed.len(), 1, "one PrometheusRule");
    assert_eq!(
        source.as_object().map(|o| o.keys().collect::<Vec<_>>()),
        Some(vec![&"groups".to_owned()]),
        "{RULES} has only `groups`"
    );
    assert_eq!(parsed[0]["spec"]["groups"], source["groups"]);
    assert_eq!(parsed[0]["spec"].as_object().map(|o| o.len()), Some(1));
    let parsed = documents(DASHBOARD_CONFIGMAP, &configmap);
    assert_eq!(parsed.len(), 1, "one ConfigMap");
    assert_eq!(parsed[0]["data"][DASHBOARD_KEY].as_str(), Some(&*dashboard));

    check_generated(PROMETHEUS_RULE, RULES, &rule);
    check_generated(DASHBOARD_CONFIGMAP, DASHBOARD, &configmap);
}

// ---------------------------------------------------------------------------------------
// Loading the manifests
// ---------------------------------------------------------------------------------------

/// The YAML documents of `text` (from `file`) as JSON values; empty documents are skipped.
#[track_caller]
fn documents(file: &str, text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{file}: bad YAML: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

/// One manifest file of [`DIR`] (its name) and its objects.
struct Manifest {
    file: String,
    objects: Vec<Value>,
}

/// Every `*.yaml` file of [`DIR`] except the kustomization, sorted by name.
#[track_caller]
fn manifests() -> Vec<Manifest> {
    let mut files: Vec<String> = std::fs::read_dir(deploy::path(DIR))
        .unwrap_or_else(|e| panic!("cannot list {DIR}: {e}"))
        .map(|e| e.expect("a directory entry").file_name().into_string())
        .map(|name| name.expect("a UTF-8 file name"))
        .filter(|name| name.ends_with(".yaml") || name.ends_with(".yml"))
        .filter(|name| name != KUSTOMIZATION)
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{DIR} has no manifests");
    files
        .into_iter()
        .map(|file| {
            let path = format!("{DIR}/{file}");
            let objects = documents(&path, &deploy::read(&path));
            assert!(!objects.is_empty(), "{path} holds no object");
            Manifest { file, objects }
        })
        .collect()
}

/// Every object of every manifest.
fn all_objects(manifests: &[Manifest]) -> Vec<&Value> {
    manifests.iter().flat_map(|m| &m.objects).collect()
}

/// The one object of `kind`.
#[track_caller]
fn the<'a>(objects: &[&'a Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects
        .iter()
        .copied()
        .filter(|o| o["kind"] == kind)
        .collect();
    assert_eq!(found.len(), 1, "expected exactly one {kind}");
    found[0]
}

/// The object of `kind` named `name`.
#[track_caller]
fn named<'a>(objects: &[&'a Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .copied()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} named {name}"))
}

/// Whether an object belongs to a custom resource (prometheus-operator's).
fn is_custom(object: &Value) -> bool {
    object["apiVersion"]
        .as_str()
        .is_some_and(|v| v.starts_with("monitoring.coreos.com/"))
}

/// `kind/name`, for messages.
fn id(object: &Value) -> String {
    format!(
        "{}/{}",
        object["kind"].as_str().unwrap_or("?"),
        object["metadata"]["name"].as_str().unwrap_or("?")
    )
}

// ---------------------------------------------------------------------------------------
// kustomization.yaml
// ---------------------------------------------------------------------------------------

fn the_kustomization_lists_exactly_the_manifests_and_names_the_image() {
    let path = format!("{DIR}/{KUSTOMIZATION}");
    let docs = documents(&path, &deploy::read(&path));
    assert_eq!(docs.len(), 1, "{path}: one document");
    let k = &docs[0];
    assert_eq!(k["apiVersion"], "kustomize.config.k8s.io/v1beta1", "{path}");
    assert_eq!(k["kind"], "Kustomization", "{path}");

    let resources: Vec<&str> = k["resources"]
        .as_array()
        .unwrap_or_else(|| panic!("{path}: no `resources` list"))
        .iter()
        .map(|r| {
            r.as_str()
                .unwrap_or_else(|| panic!("{path}: resource {r} is not a path"))
        })
        .collect();
    let listed: BTreeSet<&str> = resources.iter().copied().collect();
    assert_eq!(listed.len(), resources.len(), "{path} lists a file twice");
    for r in &resources {
        assert!(
            !r.contains('/'),
            "{path}: `{r}` is not a file of {DIR} (kustomize loads nothing outside its root)"
        );
        assert!(
            deploy::path(&format!("{DIR}/{r}")).is_file(),
            "{path} lists `{r}`, which does not exist"
        );
    }
    let manifests = manifests();
    let files: BTreeSet<&str> = manifests.iter().map(|m| m.file.as_str()).collect();
    assert_eq!(
        listed, files,
        "{path}'s resources must be exactly the manifests of {DIR}"
    );

    // The namespace it sets is the one namespace.yaml creates.
    let objects = all_objects(&manifests);
    let namespace = the(&objects, "Namespace");
    assert_eq!(k["namespace"], namespace["metadata"]["name"], "{path}");
    for object in &objects {
        assert!(
            object["metadata"].get("namespace").is_none(),
            "{} sets its namespace: leave it to the kustomization",
            id(object)
        );
    }

    // The image transformer rewrites the image every container names.
    let images: Vec<&Value> = k["images"]
        .as_array()
        .unwrap_or_else(|| panic!("{path}: no `images`"))
        .iter()
        .filter(|i| i["name"] == IMAGE)
        .collect();
    assert_eq!(
        images.len(),
        1,
        "{path}: one `images` entry named `{IMAGE}`"
    );
    assert!(
        images[0]["newTag"].is_string(),
        "{path}: `{IMAGE}` has a tag"
    );
    let pod = &the(&objects, "StatefulSet")["spec"]["template"]["spec"];
    for c in containers(pod) {
        assert_eq!(c["image"], IMAGE, "container {}", c["name"]);
    }
}

// ---------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------

/// Runs `python` with `args` in the workspace, `stdin` on its standard input; returns (success,
/// stdout + stderr).
#[track_caller]
fn run_python(python: &PathBuf, args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new(python)
        .args(args)
        .current_dir(deploy::workspace())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write to python");
    let out = child.wait_with_output().expect("wait for python");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn every_kubernetes_object_validates_against_the_kubernetes_1_33_schemas() {
    let python = VALIDATE.python();
    let manifests = manifests();
    let mut files = Vec::new();
    let mut expected = BTreeSet::new();
    for m in &manifests {
        let custom = m.objects.iter().filter(|o| is_custom(o)).count();
        assert!(
            custom == 0 || custom == m.objects.len(),
            "{DIR}/{}: keep custom resources and Kubernetes objects in separate files",
            m.file
        );
        if custom == 0 {
            let path = format!("{DIR}/{}", m.file);
            for o in &m.objects {
                let name = o["metadata"]["name"].as_str().unwrap_or("?");
                let kind = o["kind"].as_str().unwrap_or("?").to_lowercase();
                expected.insert(format!(
                    "INFO {path} passed for resource {kind}/{name} against version \
                     {KUBERNETES_VERSION}"
                ));
            }
            files.push(path);
        }
    }
    assert!(!files.is_empty(), "no Kubernetes objects in {DIR}");

    // --strict refuses fields the schema does not have (a misspelled or misplaced key);
    // without it kubernetes-validate accepts them.
    let mut args = vec![
        "-m",
        "kubernetes_validate",
        "--strict",
        "--kubernetes-version",
        KUBERNETES_VERSION,
    ];
    args.extend(files.iter().map(String::as_str));
    let (ok, report) = run_python(&python, &args, "");
    assert!(ok, "kubernetes-validate {}:\n{report}", args[2..].join(" "));
    // It only warns (and exits 0) for a kind it has no schema for: every object must have
    // passed, nothing else said.
    let lines: BTreeSet<String> = report.lines().map(str::to_owned).collect();
    assert_eq!(
        lines, expected,
        "kubernetes-validate must pass every object and say nothing else:\n{report}"
    );
}

/// Makes a CRD's structural schema strict: an object schema with `properties` and no
/// `additionalProperties` (nor `x-kubernetes-preserve-unknown-fields`) refuses other keys,
/// as the API server does with strict field validation (`kubectl apply` warns or fails on
/// unknown fields instead of pruning them silently).
fn strict(schema: &mut Value) {
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    let preserves = map.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
    if map.contains_key("properties") && !map.contains_key("additionalProperties") && !preserves {
        map.insert("additionalProperties".into(), json!(false));
    }
    for (key, value) in map.iter_mut() {
        match key.as_str() {
            "properties" | "patternProperties" => {
                value
                    .as_object_mut()
                    .into_iter()
                    .flatten()
                    .for_each(|(_, s)| strict(s));
            }
            "items" | "additionalProperties" | "not" => strict(value),
            "anyOf" | "allOf" | "oneOf" => {
                value.as_array_mut().into_iter().flatten().for_each(strict);
            }
            _ => {}
        }
    }
}

/// Validates each `{name, schema, object}` of the JSON list on stdin with jsonschema's
/// Draft 4 validator (OpenAPI 3.0's schema dialect is Draft 4's, `exclusiveMinimum` as a
/// boolean included); prints `ok NAME` or one line per error; exits 1 on any error.
const VALIDATE_CUSTOM_RESOURCES: &str = r#"
import json, sys
import jsonschema

failed = False
for case in json.load(sys.stdin):
    validator = jsonschema.Draft4Validator(case["schema"])
    errors = sorted(validator.iter_errors(case["object"]), key=lambda e: list(e.absolute_path))
    for e in errors:
        failed = True
        path = ".".join(str(p) for p in e.absolute_path) or "<root>"
        print("ERROR %s: %s: %s" % (case["name"], path, e.message))
    if not errors:
        print("ok %s" % case["name"])
sys.exit(1 if failed else 0)
"#;

/// A label or annotation map: string keys, string values.
#[track_caller]
fn check_string_map(what: &str, value: Option<&Value>) {
    let Some(value) = value else {
        return;
    };
    let map = value
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not a map"));
    for (k, v) in map {
        assert!(v.is_string(), "{what}: `{k}` is not a string (quote it)");
    }
}

fn every_custom_resource_validates_against_its_crd_schema() {
    let python = JSONSCHEMA.python();
    let mut schemas = BTreeMap::new();
    for entry in std::fs::read_dir(deploy::path(CRD_SCHEMAS)).expect("list the CRD schemas") {
        let path = entry.expect("an entry").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read a CRD schema");
        let crd: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: bad JSON: {e}", path.display()));
        let api_version = format!(
            "{}/{}",
            crd["group"].as_str().expect("group"),
            crd["version"].as_str().expect("version")
        );
        let kind = crd["kind"].as_str().expect("kind").to_owned();
        let mut schema = crd["openAPIV3Schema"].clone();
        assert!(schema.is_object(), "{}: no openAPIV3Schema", path.display());
        strict(&mut schema);
        schemas.insert((api_version, kind), schema);
    }

    let manifests = manifests();
    let mut cases = Vec::new();
    for o in all_objects(&manifests).into_iter().filter(|o| is_custom(o)) {
        let key = (
            o["apiVersion"].as_str().unwrap_or_default().to_owned(),
            o["kind"].as_str().unwrap_or_default().to_owned(),
        );
        let schema = schemas.get(&key).unwrap_or_else(|| {
            panic!(
                "{}: no CRD schema for {} {} under {CRD_SCHEMAS}",
                id(o),
                key.0,
                key.1
            )
        });
        // The CRD schema leaves `metadata` to the API server (ObjectMeta): the parts used here.
        let meta = o["metadata"].as_object().expect("metadata");
        for key in meta.keys() {
            assert!(
                ["name", "labels", "annotations"].contains(&key.as_str()),
                "{}: unexpected metadata.{key}",
                id(o)
            );
        }
        check_string_map(&format!("{} labels", id(o)), meta.get("labels"));
        check_string_map(&format!("{} annotations", id(o)), meta.get("annotations"));
        cases.push(json!({"name": id(o), "schema": schema, "object": o}));
    }
    let kinds: BTreeSet<&str> = cases
        .iter()
        .filter_map(|c| c["object"]["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["PodMonitor", "PrometheusRule"]),
        "the custom resources shipped"
    );
    let (ok, report) = run_python(
        &python,
        &["-c", VALIDATE_CUSTOM_RESOURCES],
        &serde_json::to_string(&cases).expect("JSON"),
    );
    assert!(ok, "custom resources against their CRD schemas:\n{report}");
    let oks = report.lines().filter(|l| l.starts_with("ok ")).count();
    assert_eq!(oks, cases.len(), "every custom resource checked:\n{report}");
}

// ---------------------------------------------------------------------------------------
// How the objects fit together
// ---------------------------------------------------------------------------------------

/// The pod's init containers and containers.
fn containers(pod: &Value) -> Vec<&Value> {
    ["initContainers", "containers"]
        .iter()
        .flat_map(|k| pod[*k].as_array().into_iter().flatten())
        .collect()
}

/// The container named `name` in the pod's `list` (`initContainers` or `containers`).
#[track_caller]
fn container<'a>(pod: &'a Value, list: &str, name: &str) -> &'a Value {
    pod[list]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {list} entry named {name}"))
}

/// The value of a container's environment variable (literal values only).
#[track_caller]
fn env<'a>(c: &'a Value, name: &str) -> &'a str {
    c["env"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str())
        .unwrap_or_else(|| panic!("container {} has no {name}", c["name"]))
}

/// The mount path of volume `volume` in container `c`.
#[track_caller]
fn mount<'a>(c: &'a Value, volume: &str) -> &'a str {
    c["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["name"] == volume)
        .and_then(|m| m["mountPath"].as_str())
        .unwrap_or_else(|| panic!("container {} does not mount {volume}", c["name"]))
}

/// The named container port of `c`: (number, protocol).
#[track_caller]
fn port(c: &Value, name: &str) -> (u64, String) {
    let p = c["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("container {} has no port {name}", c["name"]));
    (
        p["containerPort"].as_u64().expect("containerPort"),
        p["protocol"].as_str().unwrap_or("TCP").to_owned(),
    )
}

/// The HTTP probe `kind` of `c`: (path, port number).
#[track_caller]
fn probe(c: &Value, kind: &str) -> (String, u64) {
    let get = &c[kind]["httpGet"];
    let path = get["path"]
        .as_str()
        .unwrap_or_else(|| panic!("container {} has no HTTP {kind}", c["name"]));
    let port = get["port"].as_u64().unwrap_or_else(|| {
        panic!(
            "container {}'s {kind} names its port: use the number (a probe's named port is \
             looked up in the probed container only)",
            c["name"]
        )
    });
    (path.to_owned(), port)
}

/// Whether `selector` (`matchLabels` or a Service's selector map) matches `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let Some(selector) = selector.as_object().filter(|s| !s.is_empty()) else {
        return false;
    };
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn the_statefulset_runs_the_exporter_as_a_native_sidecar_with_probes_on_its_endpoints() {
    let manifests = manifests();
    let objects = all_objects(&manifests);
    let sts = the(&objects, "StatefulSet");
    let template = &sts["spec"]["template"];
    let pod = &template["spec"];
    let pod_labels = &template["metadata"]["labels"];
    assert!(
        selects(&sts["spec"]["selector"]["matchLabels"], pod_labels),
        "the StatefulSet's selector matches its pods"
    );

    // The exporter: a native sidecar (an init container that keeps running).
    let exporter = container(pod, "initContainers", "exporter");
    assert_eq!(exporter["restartPolicy"], "Always", "native sidecar");
    assert_eq!(exporter["command"], json!([EXPORTER_BINARY]));
    let node = container(pod, "containers", "node");
    assert_eq!(node["command"], json!([NODE_BINARY, "run"]));
    assert_eq!(
        pod["containers"].as_array().map(Vec::len),
        Some(1),
        "one node per pod"
    );

    // One socket, in a directory the exporter creates directly inside an emptyDir both
    // mount at the same place (the emptyDir's world-writable root is refused as a socket
    // directory, docs/security.md).
    let socket = env(exporter, "PROJECT_DAWN_TELEMETRY_SOCKET");
    assert_eq!(env(node, "PROJECT_DAWN_TELEMETRY_SOCKET"), socket);
    let private_dir = socket.rsplit_once('/').expect("an absolute socket path").0;
    let volume_dir = private_dir
        .rsplit_once('/')
        .expect("a directory in the volume")
        .0;
    let volume = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["emptyDir"].is_object())
        .expect("an emptyDir volume");
    let volume = volume["name"].as_str().expect("volume name");
    assert_eq!(
        mount(exporter, volume),
        volume_dir,
        "exporter's socket volume"
    );
    assert_eq!(mount(node, volume), volume_dir, "node's socket volume");

    // Node data on the volumeClaimTemplate.
    let claim = sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]
        .as_str()
        .expect("a volumeClaimTemplate");
    assert_eq!(
        env(node, "PROJECT_DAWN_DATA_ROOT"),
        mount(node, claim),
        "the data root is the claim's mount"
    );

    // The exporter listens where its port, the Service, the PodMonitor and every probe say.
    let (metrics_port, protocol) = port(exporter, "metrics");
    assert_eq!(protocol, "TCP");
    assert_eq!(
        env(exporter, "PROJECT_DAWN_METRICS_PORT"),
        metrics_port.to_string()
    );
    let probes = [
        (exporter, "startupProbe", "/-/healthy"),
        (exporter, "livenessProbe", "/-/healthy"),
        (exporter, "readinessProbe", "/-/healthy"),
        (node, "readinessProbe", "/health/ready"),
        (node, "livenessProbe", "/health/live"),
    ];
    for (c, kind, path) in probes {
        assert_eq!(
            probe(c, kind),
            (path.to_owned(), metrics_port),
            "{}'s {kind}",
            c["name"]
        );
    }
    assert!(
        node.get("startupProbe").is_none(),
        "the node's startup probe: see the reasoning in statefulset.yaml before adding one"
    );

    // Peers: the headless Service, its UDP port, the bootstrap names.
    let (p2p_port, protocol) = port(node, "p2p");
    assert_eq!(protocol, "UDP", "QUIC");
    assert_eq!(env(node, "PROJECT_DAWN_P2P_PORT"), p2p_port.to_string());
    let service_name = sts["spec"]["serviceName"].as_str().expect("serviceName");
    let peers = named(&objects, "Service", service_name);
    assert_eq!(peers["spec"]["clusterIP"], "None", "headless");
    assert_eq!(peers["spec"]["publishNotReadyAddresses"], true);
    assert!(selects(&peers["spec"]["selector"], pod_labels));
    assert_eq!(
        peers["spec"]["ports"],
        json!([{"name": "p2p", "port": p2p_port, "targetPort": p2p_port, "protocol": "UDP"}])
    );
    let replicas = sts["spec"]["replicas"].as_u64().expect("replicas");
    let sts_name = sts["metadata"]["name"].as_str().expect("name");
    let bootstrap: Vec<&str> = env(node, "PROJECT_DAWN_BOOTSTRAP").split(',').collect();
    let pods: Vec<String> = (0..replicas)
        .map(|i| format!("{sts_name}-{i}.{service_name}:{p2p_port}"))
        .collect();
    assert_eq!(
        bootstrap, pods,
        "every replica's name in the headless Service, in order"
    );
    // The node accepts them (host names are resolved at every dial).
    dawn_node::p2p::parse_peer_list(&bootstrap.join(","))
        .unwrap_or_else(|e| panic!("the node refuses PROJECT_DAWN_BOOTSTRAP: {e}"));

    // The metrics Service and the PodMonitor.
    let metrics = named(&objects, "Service", "dawn-metrics");
    assert!(selects(&metrics["spec"]["selector"], pod_labels));
    assert_eq!(
        metrics["spec"]["ports"],
        json!([{"name": "metrics", "port": metrics_port, "targetPort": metrics_port,
                "protocol": "TCP"}]),
        "the metrics Service (targetPort by number: named ports of native sidecars need \
         Kubernetes 1.32)"
    );
    let monitor = the(&objects, "PodMonitor");
    assert!(selects(
        &monitor["spec"]["selector"]["matchLabels"],
        pod_labels
    ));
    let endpoints = monitor["spec"]["podMetricsEndpoints"]
        .as_array()
        .expect("podMetricsEndpoints");
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0]["port"], "metrics", "the exporter's port name");
    assert_eq!(endpoints[0]["path"], "/metrics");
    let job_label = monitor["spec"]["jobLabel"].as_str().expect("jobLabel");
    assert_eq!(
        pod_labels[job_label], JOB,
        "the PodMonitor's job must be the rules' job `{JOB}`"
    );

    // The PodDisruptionBudget covers the pods.
    let pdb = the(&objects, "PodDisruptionBudget");
    assert!(selects(&pdb["spec"]["selector"]["matchLabels"], pod_labels));

    // The dashboard ConfigMap is labelled for the Grafana sidecar.
    let dashboard = named(&objects, "ConfigMap", "dawn-grafana-dashboard");
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
}

fn every_container_meets_restricted_pod_security_and_has_requests_and_limits() {
    let manifests = manifests();
    let objects = all_objects(&manifests);
    let sts = the(&objects, "StatefulSet");
    let pod = &sts["spec"]["template"]["spec"];

    let sc = &pod["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    for key in ["runAsUser", "runAsGroup", "fsGroup"] {
        assert_eq!(sc[key], 10001, "pod {key}: the image's user");
    }
    assert_eq!(sc["seccompProfile"], json!({"type": "RuntimeDefault"}));
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        assert!(pod.get(key).is_none_or(|v| v == false), "pod {key}");
    }
    for v in pod["volumes"].as_array().into_iter().flatten() {
        assert!(v.get("hostPath").is_none(), "hostPath volume {}", v["name"]);
    }
    assert_eq!(pod["automountServiceAccountToken"], false);

    let all = containers(pod);
    assert_eq!(all.len(), 2, "the node and its exporter");
    for c in all {
        let name = &c["name"];
        let sc = &c["securityContext"];
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}");
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(sc["capabilities"], json!({"drop": ["ALL"]}), "{name}");
        assert!(sc.get("privileged").is_none_or(|v| v == false), "{name}");
        for key in ["runAsUser", "runAsGroup"] {
            assert!(
                sc.get(key)
                    .is_none_or(|v| v.as_u64().is_some_and(|u| u > 0)),
                "{name} {key}"
            );
        }
        assert!(
            sc.get("seccompProfile")
                .is_none_or(|p| p == &json!({"type": "RuntimeDefault"})),
            "{name} seccompProfile"
        );
        assert_eq!(c["imagePullPolicy"], "IfNotPresent", "{name}");
        for side in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                assert!(
                    c["resources"][side][resource].is_string(),
                    "{name}: resources.{side}.{resource}"
                );
            }
        }
    }
}
