//! The shipped `Dockerfile` and `docker-compose.yml`, for real (issue 7's acceptance).
//!
//! 1. `deploy/docker/build-image.sh`, as `docs/deploy.md` tells a user: it builds
//!    `dawn:latest`, vendoring the crates on the host when containers cannot reach crates.io,
//!    keeps the build stage as `dawn:build-cache` and removes the untagged images of earlier
//!    builds (and whatever a failed build left).
//! 2. `compose up -d` of the unchanged `docker-compose.yml` under a project name of its own,
//!    with free loopback ports given through the file's port variables.
//! 3. Every service's container is running and healthy (the compose health checks).
//! 4. Prometheus' query API (on its published port): `dawn_node_up` is 1 and `p2p_peers` is
//!    2 for each of the three exporters of job `dawn`.
//! 5. `compose stop node-2`: its exporter reports `dawn_node_up` 0, the other two stay 1 and
//!    see one peer, `DawnNodeDown` fires for `node-2-exporter:9090` in Prometheus'
//!    `/api/v1/alerts` after the rule's `for:` (1 minute as shipped), and reaches
//!    Alertmanager.
//! 6. `compose down -v` leaves no container, volume or network of the project.
//!
//! A guard runs `compose down -v` when the test fails half-way, after printing the
//! containers' states and the last lines of their logs. Needs Docker, a Compose tool and the
//! base images (`deploy/docker/local-base-images.sh` makes them without a registry); without
//! them the test is reported as ignored (with the reason after the run), and fails under
//! `CI=true`. Measured on 2 shared cores: about 2 minutes plus the image build, which takes
//! 3.5 to 5 minutes from nothing and about 1.5 when only Dawn's sources changed (7 and 3.5
//! minutes in all).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::time::{Duration, Instant};

use dawn_tests::support::deploy;
use dawn_tests::support::free_port;
use dawn_tests::support::harness;
use dawn_tests::support::http::get;
use dawn_tests::support::prometheus::query_at;
use dawn_tests::support::tools::{Docker, DockerCompose};
use dawn_tests::trial;
use serde_json::Value;

/// The image `docker-compose.yml` runs (its `DAWN_IMAGE` default).
const IMAGE: &str = "dawn:latest";
/// The services of `docker-compose.yml`.
const SERVICES: [&str; 8] = [
    "alertmanager",
    "node-1",
    "node-1-exporter",
    "node-2",
    "node-2-exporter",
    "node-3",
    "node-3-exporter",
    "prometheus",
];
/// The named volumes of `docker-compose.yml`.
const VOLUMES: [&str; 8] = [
    "node-1-data",
    "node-1-telemetry",
    "node-2-data",
    "node-2-telemetry",
    "node-3-data",
    "node-3-telemetry",
    "prometheus-data",
    "alertmanager-data",
];
/// Prometheus' targets for the exporters (`deploy/prometheus/prometheus.yml`).
const INSTANCES: [&str; 3] = [
    "node-1-exporter:9090",
    "node-2-exporter:9090",
    "node-3-exporter:9090",
];
/// The node the test stops, and its exporter's instance.
const STOPPED: &str = "node-2";
const STOPPED_INSTANCE: &str = "node-2-exporter:9090";

/// Every service healthy after `up`: the node health checks start after 30 s at most.
const HEALTHY_WITHIN: Duration = Duration::from_secs(180);
/// Prometheus scrapes every 15 s; the mesh forms within seconds of the last node's start.
const METRICS_WITHIN: Duration = Duration::from_secs(120);
/// Beyond the alert's `for:`: a scrape and an evaluation interval (15 s each), and slack.
const ALERT_SLACK: Duration = Duration::from_secs(90);

fn main() -> ExitCode {
    harness::main(vec![
        trial!(compose_runs_three_nodes_with_prometheus_and_alertmanager).needs(Docker {
            images: base_images(),
        }),
    ])
}

fn compose_runs_three_nodes_with_prometheus_and_alertmanager() {
    let tools = Docker {
        images: base_images(),
    }
    .tools();
    let root = deploy::workspace();
    let started = Instant::now();

    let build = build_image(&tools, &root);
    eprintln!("compose test: image built in {build:.0?}");

    let up = Instant::now();
    let project = Project::up(tools, &root);
    project.wait_healthy();
    eprintln!(
        "compose test: every service healthy {:.0?} after `up` started",
        up.elapsed()
    );

    let prometheus = format!("http://127.0.0.1:{}", project.port("DAWN_PROMETHEUS_PORT"));
    let alertmanager = format!(
        "http://127.0.0.1:{}",
        project.port("DAWN_ALERTMANAGER_PORT")
    );
    wait_for(
        METRICS_WITHIN,
        "all three nodes up with 2 peers each",
        || {
            let up = by_instance(&query_at(&prometheus, "dawn_node_up{job=\"dawn\"}")?);
            let peers = by_instance(&query_at(&prometheus, "p2p_peers{job=\"dawn\"}")?);
            for instance in INSTANCES {
                if up.get(instance) != Some(&1.0) || peers.get(instance) != Some(&2.0) {
                    return Err(format!("dawn_node_up {up:?}, p2p_peers {peers:?}"));
                }
            }
            if up.len() != 3 || peers.len() != 3 {
                return Err(format!(
                    "not 3 series: dawn_node_up {up:?}, p2p_peers {peers:?}"
                ));
            }
            Ok(())
        },
    );
    eprintln!(
        "compose test: Prometheus sees 3 nodes up with 2 peers each {:.0?} after `up` started",
        up.elapsed()
    );
    // Each exporter's own page, published on loopback, serves the same facts.
    for (n, instance) in INSTANCES.iter().enumerate() {
        let port = project.port(&format!("DAWN_EXPORTER_{}_PORT", n + 1));
        let health = get(&format!("http://127.0.0.1:{port}/health/ready"))
            .unwrap_or_else(|e| panic!("{instance}'s published port: {e}"));
        assert_eq!(health.status, 200, "{instance}: {}", health.text());
    }

    let stopped_at = Instant::now();
    project.compose_ok(&["stop", STOPPED]);
    wait_for(
        METRICS_WITHIN,
        &format!("{STOPPED} reported down, the others up with 1 peer"),
        || {
            let up = by_instance(&query_at(&prometheus, "dawn_node_up{job=\"dawn\"}")?);
            let peers = by_instance(&query_at(&prometheus, "p2p_peers{job=\"dawn\"}")?);
            for instance in INSTANCES {
                let (want_up, want_peers) = if instance == STOPPED_INSTANCE {
                    (0.0, None)
                } else {
                    (1.0, Some(1.0))
                };
                if up.get(instance) != Some(&want_up)
                    || want_peers.is_some_and(|p| peers.get(instance) != Some(&p))
                {
                    return Err(format!("dawn_node_up {up:?}, p2p_peers {peers:?}"));
                }
            }
            Ok(())
        },
    );
    let hold = node_down_for();
    wait_for(
        hold + ALERT_SLACK,
        &format!("DawnNodeDown firing for {STOPPED_INSTANCE} in Prometheus"),
        || {
            let alerts = get_json(&format!("{prometheus}/api/v1/alerts"))?;
            let list = alerts["data"]["alerts"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let firing = list.iter().any(|a| {
                a["labels"]["alertname"] == "DawnNodeDown"
                    && a["labels"]["instance"] == STOPPED_INSTANCE
                    && a["labels"]["severity"] == "critical"
                    && a["state"] == "firing"
            });
            if firing {
                Ok(())
            } else {
                Err(format!("alerts: {}", summarize(&list)))
            }
        },
    );
    let firing_after = stopped_at.elapsed();
    assert!(
        firing_after >= hold,
        "DawnNodeDown fired {firing_after:.0?} after the stop, before its for: {hold:?}"
    );
    eprintln!("compose test: DawnNodeDown firing {firing_after:.0?} after the stop");
    wait_for(
        Duration::from_secs(60),
        "DawnNodeDown reaches Alertmanager",
        || {
            let alerts = get_json(&format!("{alertmanager}/api/v2/alerts"))?;
            let list = alerts.as_array().cloned().unwrap_or_default();
            if list.iter().any(|a| {
                a["labels"]["alertname"] == "DawnNodeDown"
                    && a["labels"]["instance"] == STOPPED_INSTANCE
            }) {
                Ok(())
            } else {
                Err(format!("Alertmanager has: {}", summarize(&list)))
            }
        },
    );

    project.down();
    eprintln!(
        "compose test: done in {:.0?} (image build {build:.0?})",
        started.elapsed()
    );
}

/// The images the Dockerfile builds from (its `ARG RUST_IMAGE`/`RUNTIME_IMAGE` defaults)
/// and the Prometheus and Alertmanager images `docker-compose.yml` runs.
fn base_images() -> Vec<String> {
    let dockerfile = deploy::read("Dockerfile");
    let compose = deploy::read("docker-compose.yml");
    let mut images = Vec::new();
    for arg in ["RUST_IMAGE", "RUNTIME_IMAGE"] {
        let prefix = format!("ARG {arg}=");
        let image = dockerfile
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("the Dockerfile has no `{prefix}...` line"));
        images.push(image.trim().to_owned());
    }
    for name in ["prom/prometheus:", "prom/alertmanager:"] {
        let image = compose
            .lines()
            .filter_map(|l| l.trim().strip_prefix("image:"))
            .map(|i| i.trim().trim_matches('"'))
            .find(|i| i.starts_with(name))
            .unwrap_or_else(|| panic!("docker-compose.yml runs no {name} image"));
        images.push(image.to_owned());
    }
    images
}

/// `for:` of `DawnNodeDown` in the shipped rules.
fn node_down_for() -> Duration {
    let rules = deploy::read(deploy::RULES);
    let mut lines = rules
        .lines()
        .skip_while(|l| l.trim() != "- alert: DawnNodeDown");
    lines.next();
    let value = lines
        .take_while(|l| !l.trim_start().starts_with("- alert:"))
        .find_map(|l| l.trim().strip_prefix("for:"))
        .unwrap_or_else(|| panic!("DawnNodeDown has no `for:` in {}", deploy::RULES))
        .trim();
    let (number, unit) = value.split_at(value.len() - 1);
    let number: u64 = number
        .parse()
        .unwrap_or_else(|_| panic!("DawnNodeDown's for: {value} is not NUMBER+s/m/h"));
    match unit {
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number * 60),
        "h" => Duration::from_secs(number * 3600),
        _ => panic!("DawnNodeDown's for: {value} is not NUMBER+s/m/h"),
    }
}

/// Runs `cmd`, returns its output; fails the test with both streams when it cannot start
/// or exits non-zero.
#[track_caller]
fn run_ok(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {cmd:?} failed ({})\n--- stdout (end)\n{}\n--- stderr (end)\n{}",
        out.status,
        tail(&out.stdout, 60),
        tail(&out.stderr, 60),
    );
    out
}

/// The last `n` lines of `bytes`.
fn tail(bytes: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Builds [`IMAGE`] with `deploy/docker/build-image.sh`, the way `docs/deploy.md` tells a
/// user to. Returns how long it took.
fn build_image(tools: &DockerCompose, root: &Path) -> Duration {
    let start = Instant::now();
    run_ok(
        Command::new(root.join("deploy/docker/build-image.sh"))
            .current_dir(root)
            .args(["--tag", IMAGE])
            .env("DOCKER", &tools.docker),
        "building the image with deploy/docker/build-image.sh",
    );
    start.elapsed()
}

/// A compose project of the shipped file; `compose down -v` on drop.
struct Project {
    tools: DockerCompose,
    root: PathBuf,
    name: String,
    ports: BTreeMap<String, u16>,
    down: bool,
}

impl Project {
    /// `compose up -d` under a new project name, with free loopback ports.
    fn up(tools: DockerCompose, root: &Path) -> Project {
        let name = format!("dawn-compose-test-{}", std::process::id());
        let ports = [
            "DAWN_PROMETHEUS_PORT",
            "DAWN_ALERTMANAGER_PORT",
            "DAWN_EXPORTER_1_PORT",
            "DAWN_EXPORTER_2_PORT",
            "DAWN_EXPORTER_3_PORT",
        ]
        .into_iter()
        .map(|var| (var.to_owned(), free_port()))
        .collect();
        let project = Project {
            tools,
            root: root.to_owned(),
            name,
            ports,
            down: false,
        };
        project.compose_ok(&["up", "-d", "--no-build"]);
        project
    }

    /// The host port given to the compose file's variable `var`.
    fn port(&self, var: &str) -> u16 {
        self.ports[var]
    }

    /// The compose tool with `-p NAME -f docker-compose.yml ARGS`, in the workspace, with
    /// the port variables set and the image variable cleared.
    fn compose(&self, args: &[&str]) -> Command {
        let mut cmd = self.tools.compose_command();
        cmd.current_dir(&self.root)
            .args(["-p", &self.name, "-f"])
            .arg(self.root.join("docker-compose.yml"))
            .args(args)
            .env_remove("DAWN_IMAGE")
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .envs(self.ports.iter().map(|(k, v)| (k, v.to_string())));
        cmd
    }

    #[track_caller]
    fn compose_ok(&self, args: &[&str]) -> Output {
        run_ok(
            &mut self.compose(args),
            &format!("compose {}", args.join(" ")),
        )
    }

    /// `docker` with `args`, output as text; fails the test on error.
    #[track_caller]
    fn docker(&self, args: &[&str]) -> String {
        let out = run_ok(
            Command::new(&self.tools.docker).args(args),
            &format!("docker {}", args.join(" ")),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `service -> (state, health)` of every container of the project.
    fn states(&self) -> BTreeMap<String, (String, String)> {
        let label = format!("label=com.docker.compose.project={}", self.name);
        let ids = self.docker(&["ps", "-a", "-q", "--filter", &label]);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if ids.is_empty() {
            return BTreeMap::new();
        }
        let mut args = vec![
            "inspect",
            "--format",
            "{{index .Config.Labels \"com.docker.compose.service\"}} {{.State.Status}} \
             {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}",
        ];
        args.extend(&ids);
        self.docker(&args)
            .lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                let service = words.next()?.to_owned();
                let state = words.next()?.to_owned();
                let health = words.next()?.to_owned();
                Some((service, (state, health)))
            })
            .collect()
    }

    /// Waits until every service has one container, running and healthy.
    fn wait_healthy(&self) {
        wait_for(HEALTHY_WITHIN, "every service running and healthy", || {
            let states = self.states();
            let services: Vec<&str> = states.keys().map(String::as_str).collect();
            assert_eq!(services, SERVICES, "the project's containers");
            if let Some((service, (state, _))) = states
                .iter()
                .find(|(_, (state, _))| state != "running" && state != "created")
            {
                panic!("{service} is {state}, not running: {states:?}");
            }
            if states
                .values()
                .all(|(s, h)| s == "running" && h == "healthy")
            {
                Ok(())
            } else {
                Err(format!("{states:?}"))
            }
        });
    }

    /// `compose down -v`, then checks that no container, volume or network of the project
    /// is left.
    fn down(mut self) {
        // First, what there is to remove: the file's named volumes and the default network.
        let prefix = format!("{}_", self.name);
        let volumes = self.docker(&["volume", "ls", "-q"]);
        let mut ours: Vec<&str> = volumes
            .lines()
            .filter_map(|v| v.strip_prefix(&prefix))
            .collect();
        ours.sort_unstable();
        let mut declared = VOLUMES.to_vec();
        declared.sort_unstable();
        assert_eq!(ours, declared, "the project's volumes before down -v");
        let networks = self.docker(&["network", "ls", "--format", "{{.Name}}"]);
        assert!(
            networks.lines().any(|n| n == format!("{prefix}default")),
            "no network {prefix}default before down -v: {networks}"
        );

        self.compose_ok(&["down", "-v", "--timeout", "10"]);
        self.down = true;
        let label = format!("label=com.docker.compose.project={}", self.name);
        let containers = self.docker(&["ps", "-a", "-q", "--filter", &label]);
        assert_eq!(containers.trim(), "", "containers left after down -v");
        let volumes = self.docker(&["volume", "ls", "-q"]);
        let left: Vec<&str> = volumes.lines().filter(|v| v.starts_with(&prefix)).collect();
        assert!(left.is_empty(), "volumes left after down -v: {left:?}");
        let labelled = self.docker(&["volume", "ls", "-q", "--filter", &label]);
        assert_eq!(labelled.trim(), "", "volumes left after down -v");
        let networks = self.docker(&["network", "ls", "--format", "{{.Name}}"]);
        let left: Vec<&str> = networks
            .lines()
            .filter(|n| n.starts_with(&prefix))
            .collect();
        assert!(left.is_empty(), "networks left after down -v: {left:?}");
        let labelled = self.docker(&["network", "ls", "-q", "--filter", &label]);
        assert_eq!(labelled.trim(), "", "networks left after down -v");
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if self.down {
            return;
        }
        if std::thread::panicking() {
            eprintln!("compose test failed; containers: {:?}", self.states());
            if let Ok(out) = self
                .compose(&["logs", "--no-color", "--tail", "30"])
                .output()
            {
                eprintln!(
                    "--- compose logs (last 30 lines each)\n{}",
                    tail(&out.stdout, 400)
                );
            }
        }
        match self.compose(&["down", "-v", "--timeout", "5"]).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "compose down -v of {} failed: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("compose down -v of {} did not run: {e}", self.name),
        }
    }
}

/// Calls `check` every 2 s until it returns `Ok`, for at most `within`; then fails the test
/// with `what` and the last error.
#[track_caller]
fn wait_for(within: Duration, what: &str, mut check: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + within;
    loop {
        match check() {
            Ok(()) => return,
            Err(last) if Instant::now() > deadline => {
                panic!("not true within {within:?}: {what}\nlast attempt: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_secs(2)),
        }
    }
}

/// GET `url` as JSON.
fn get_json(url: &str) -> Result<Value, String> {
    let r = get(url)?;
    if r.status != 200 {
        return Err(format!("{url}: {} {}", r.status, r.text()));
    }
    serde_json::from_str(&r.text()).map_err(|e| format!("{url}: {e}"))
}

/// `instance -> value` of a query result.
fn by_instance(result: &[Value]) -> BTreeMap<String, f64> {
    result
        .iter()
        .filter_map(|s| {
            let instance = s["metric"]["instance"].as_str()?.to_owned();
            let value = s["value"][1].as_str()?.parse().ok()?;
            Some((instance, value))
        })
        .collect()
}

/// `alertname instance state` of each alert, for messages.
fn summarize(alerts: &[Value]) -> String {
    let names: Vec<String> = alerts
        .iter()
        .map(|a| {
            format!(
                "{} {} {}",
                a["labels"]["alertname"].as_str().unwrap_or("?"),
                a["labels"]["instance"].as_str().unwrap_or("-"),
                a["state"]
                    .as_str()
                    .or(a["status"]["state"].as_str())
                    .unwrap_or("?")
            )
        })
        .collect();
    format!("[{}]", names.join(", "))
}
