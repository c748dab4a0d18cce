//! `dawn-cluster` as a new user runs it, held to docs/cluster.md: the real launcher (built
//! with the node and exporter it runs) starts three nodes on free ports, and the test waits
//! for what the doc shows, line by line in its stdout and series by series on the
//! exporters:
//!
//! - the mesh forms before the first summary, which shows every node with its peers;
//! - the first incident lines, as many as the doc shows, are exactly the doc's (but for the
//!   rogue peer's fresh id and the seconds of `retry after`), in any order;
//! - the flooded node's summary reaches the doc's `rate_limited` count;
//! - every `label="value"` the doc names in a metric example is non-zero on some exporter;
//! - every line of the doc's output examples has the shape (digits and paths aside) of a
//!   line the cluster printed (so has the mesh line the README quotes), and every summary
//!   line has the doc's fields;
//! - SIGINT stops it: exit 0, the doc's stop lines, sockets removed, data and logs kept,
//!   every exporter and node gone.
//!
//! About 40 s: the mesh (a gossip round or two), the incidents of the first 21 rounds, stop.

use dawn_tests::support::binaries::cluster;
use dawn_tests::support::process::{Proc, free_port, free_tcp_ports, free_udp_ports, temp_dir};
use dawn_tests::support::{Exposition, eventually, get};
use rustix::process::Signal;

/// The cluster's size: the doc's examples are those of the default three nodes.
const NODES: u16 = 3;
/// The document under test.
const DOC: &str = include_str!("../../docs/cluster.md");
const README: &str = include_str!("../../README.md");
/// How the incident lines start (the traffic's other lines are not incidents).
const INCIDENTS: [&str; 3] = [
    "traffic: slow peer:",
    "traffic: rogue peer ",
    "traffic: flood:",
];

#[test]
fn the_cluster_prints_and_moves_what_its_doc_shows() {
    let doc = Doc::parse(DOC);
    let dir = temp_dir();
    let root = dir.path().join("cluster");
    let metrics_port = free_tcp_ports(NODES);
    let p2p_port = free_udp_ports(NODES);
    let args = [
        "--no-build".to_owned(),
        format!("--nodes={NODES}"),
        format!("--dir={}", root.display()),
        format!("--metrics-port={metrics_port}"),
        format!("--p2p-port={p2p_port}"),
        format!("--prometheus-port={}", free_port()),
        // Only a bound: the test stops it with SIGINT long before.
        "--duration=170s".to_owned(),
        "--summary-every=2s".to_owned(),
    ];
    let mut launcher = launch(&args, dir.path());

    // The mesh, then the first summary: every node with all the others as peers.
    wait_lines(&mut launcher, "the mesh formed", |lines| {
        lines
            .iter()
            .any(|l| l.starts_with("mesh: formed in "))
            .then_some(())
    });
    let first = wait_lines(&mut launcher, "the first summary", |lines| {
        let summary: Vec<String> = lines.iter().filter(|l| is_summary(l)).cloned().collect();
        (summary.len() >= usize::from(NODES)).then(|| summary[..usize::from(NODES)].to_vec())
    });
    for (i, line) in first.iter().enumerate() {
        assert_eq!(
            field(line, "node"),
            Some(format!("node-{i}").as_str()),
            "{line}"
        );
        assert_eq!(field(line, "up"), Some("1"), "{line}");
        assert_eq!(
            field(line, "peers"),
            Some((NODES - 1).to_string().as_str()),
            "{line}"
        );
        assert_eq!(field(line, "health"), Some("healthy"), "{line}");
    }

    // The first incidents, as many as the doc shows: exactly the doc's lines.
    let printed = wait_lines(&mut launcher, "the doc's incidents", |lines| {
        let mut incidents: Vec<String> = lines.iter().filter(|l| is_incident(l)).cloned().collect();
        (incidents.len() >= doc.incidents.len()).then(|| {
            incidents.truncate(doc.incidents.len());
            incidents
        })
    });
    let masked = |lines: &[String]| -> Vec<String> { lines.iter().map(|l| mask(l)).collect() };
    let (mut printed, mut documented) = (masked(&printed), masked(&doc.incidents));
    printed.sort();
    documented.sort();
    assert_eq!(
        printed, documented,
        "the first incident lines differ from docs/cluster.md's (left: printed)"
    );

    // The flooded node's summary reaches the doc's count.
    let (flooded, count) = doc.rate_limited();
    wait_lines(&mut launcher, "the doc's rate_limited count", |lines| {
        let seen: Vec<u64> = lines
            .iter()
            .filter(|l| is_summary(l) && field(l, "node") == Some(flooded.as_str()))
            .filter_map(|l| field(l, "rate_limited")?.parse().ok())
            .collect();
        if let Some(over) = seen.iter().find(|&&n| n > count) {
            panic!("{flooded}'s summary shows rate_limited={over}, the doc says {count}");
        }
        seen.contains(&count).then_some(())
    });

    // Every label value the doc names is moved on some exporter.
    let urls: Vec<String> = (0..NODES)
        .map(|i| format!("http://127.0.0.1:{}/metrics", metrics_port + i))
        .collect();
    eventually(
        "every label value of docs/cluster.md on some exporter",
        || {
            let mut expositions = Vec::new();
            for url in &urls {
                let r = get(url)?;
                expositions.push(Exposition::parse(&r.text())?);
            }
            let missing: Vec<String> = doc
                .metrics
                .iter()
                .flat_map(|example| example.missing_from(&expositions))
                .collect();
            match missing.is_empty() {
                true => Ok(()),
                false => Err(missing.join("\n")),
            }
        },
    );

    // SIGINT: a clean stop, as the doc says.
    launcher.signal(Signal::INT);
    let status = launcher.wait_exit();
    let output = launcher.log();
    assert!(status.success(), "dawn-cluster exited with {status}");
    let lines: Vec<String> = output.lines().map(str::to_owned).collect();
    assert!(
        lines
            .iter()
            .any(|l| l == "SIGINT received: stopping the cluster")
    );
    let stopped = format!("cluster stopped; logs kept under {}", root.display());
    assert!(lines.contains(&stopped), "no line {stopped:?}");
    for i in 0..NODES {
        let member = root.join(format!("node-{i}"));
        assert!(!member.join("telemetry.sock").exists(), "node-{i}'s socket");
        assert!(member.join("data").is_dir(), "node-{i}'s data root");
        for log in ["node.log", "exporter.log"] {
            assert!(member.join(log).is_file(), "node-{i}'s {log}");
        }
        // Nobody serves or holds the member's ports any more.
        assert!(get(&urls[usize::from(i)]).is_err(), "node-{i}'s exporter");
        assert!(std::net::UdpSocket::bind(("127.0.0.1", p2p_port + i)).is_ok());
    }

    // Every line of the doc's output examples has the shape of a printed line.
    let shapes: Vec<String> = lines.iter().map(|l| shape(l)).collect();
    for line in &doc.output {
        assert!(
            shapes.contains(&shape(line)),
            "docs/cluster.md shows {line:?}, which has the shape of no line the cluster \
             printed:\n{output}"
        );
    }
    // The README quotes the mesh line a newcomer waits for: it too has a printed shape.
    let quoted: Vec<&str> = README
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|q| q.starts_with("mesh: "))
        .collect();
    assert!(
        !quoted.is_empty(),
        "README.md no longer quotes the mesh line"
    );
    for line in quoted {
        assert!(
            shapes.contains(&shape(line)),
            "README.md quotes {line:?}, which has the shape of no line the cluster printed:\n{output}"
        );
    }
    // And every summary line has the doc's fields, in the doc's order.
    let fields = summary_fields(&doc.summaries[0]);
    for line in lines.iter().filter(|l| is_summary(l)) {
        assert_eq!(summary_fields(line), fields, "{line}");
    }
}

/// A bad flag is refused before anything starts, in the project's words: which flag, what
/// is accepted, never a parse error's text.
#[test]
fn bad_flags_are_refused_in_our_words() {
    for (args, line) in [
        (
            ["--nodes", "abc"],
            "error: invalid value 'abc' for '--nodes <N>': expected a number of nodes from 1 to 200",
        ),
        (
            ["--nodes", "201"],
            "error: invalid value '201' for '--nodes <N>': expected a number of nodes from 1 to 200",
        ),
        (
            ["--metrics-port", "99999"],
            "error: invalid value '99999' for '--metrics-port <PORT>': expected a port 1-65535, \
             for example 9101",
        ),
        (
            ["--max-peers", "0"],
            "error: invalid value '0' for '--max-peers <N>': expected a peer limit from 1 to \
             10000, for example 8",
        ),
        (
            ["--gossip-interval", "50ms"],
            "error: invalid value '50ms' for '--gossip-interval <DURATION>': expected a duration \
             from 100ms to 10m, for example 2s",
        ),
        (
            ["--bootstrap", "ring"],
            "error: invalid value 'ring' for '--bootstrap <SHAPE>': expected chain, star or random",
        ),
    ] {
        let out = std::process::Command::new(cluster())
            .args(args)
            .arg("--no-build")
            .output()
            .expect("run dawn-cluster");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().next(), Some(line), "{stderr}");
    }
}

/// A size this machine cannot hold is refused in one line that says what to do, and
/// nothing starts: ports past 65535, too few open files (a limit of 100 set by the shell,
/// as `ulimit -n` does), a port that something else holds.
#[test]
fn impossible_sizes_are_refused_before_anything_starts() {
    let dir = temp_dir();
    let root = dir.path().join("cluster");
    let refused = |program: &str, pre: &[&str], args: &[String], line: &str| {
        let out = std::process::Command::new(program)
            .args(pre)
            .arg(cluster())
            .args(["--no-build".to_owned(), format!("--dir={}", root.display())])
            .args(args)
            .output()
            .expect("run dawn-cluster");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.trim_end(), line, "{stderr}");
        assert_eq!(stdout, "", "printed as if it started");
        // Nothing started: no member's directory (the checks before the lock do not even
        // create --dir).
        assert!(!root.join("node-0").exists(), "node-0 was set up");
    };
    let direct = |args: &[String], line: &str| refused("env", &[], args, line);

    direct(
        &["--nodes=100".to_owned(), "--metrics-port=65500".to_owned()],
        "dawn-cluster: 100 nodes from --metrics-port 65500 need TCP ports up to 65599, past \
         65535: pass --metrics-port 65436 or lower, or fewer --nodes",
    );
    assert!(!root.exists(), "--dir was created before the port check");
    direct(
        &[
            "--nodes=100".to_owned(),
            "--metrics-port=9101".to_owned(),
            "--prometheus-port=9150".to_owned(),
        ],
        "dawn-cluster: --prometheus-port 9150 is one of the exporters' ports 9101-9200 \
         (--metrics-port and --nodes): pass another --prometheus-port",
    );
    // The shell's `ulimit -n` lowers both limits: nothing to raise the soft one to.
    refused(
        "sh",
        &["-c", "ulimit -n 100 && exec \"$0\" \"$@\""],
        &["--nodes=100".to_owned()],
        "dawn-cluster: 100 nodes need about 464 open files in the launcher, but its limit is \
         100 (hard limit 100): raise it (ulimit -n 464) or ask for fewer --nodes",
    );

    // A port something else holds is named, with the flag that moves it.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a TCP port");
    let held = holder.local_addr().expect("its address").port();
    direct(
        &[
            "--nodes=1".to_owned(),
            format!("--metrics-port={held}"),
            format!("--p2p-port={}", free_udp_ports(1)),
            format!("--prometheus-port={}", free_port()),
        ],
        &format!(
            "dawn-cluster: port {held} (node-0's exporter, TCP) is already in use on \
             127.0.0.1: stop what holds it, or pass another --metrics-port"
        ),
    );
}

/// A cluster whose nodes have partial views (a peer limit of 4 among 12, all bootstrapped
/// from node-0) is formed once its peer graph is connected, and says so in the doc's words;
/// no node goes past its limit. About 15 s.
#[test]
fn a_partial_view_cluster_waits_for_a_connected_graph() {
    const NODES: u16 = 12;
    const MAX_PEERS: usize = 4;
    let dir = temp_dir();
    let root = dir.path().join("cluster");
    let args = [
        "--no-build".to_owned(),
        format!("--nodes={NODES}"),
        format!("--max-peers={MAX_PEERS}"),
        "--bootstrap=star".to_owned(),
        "--gossip-interval=1s".to_owned(),
        "--no-traffic".to_owned(),
        format!("--dir={}", root.display()),
        format!("--metrics-port={}", free_tcp_ports(NODES)),
        format!("--p2p-port={}", free_udp_ports(NODES)),
        format!("--prometheus-port={}", free_port()),
        // Only a bound: the test stops it with SIGINT long before.
        "--duration=170s".to_owned(),
        "--summary-every=1s".to_owned(),
    ];
    let mut launcher = launch(&args, dir.path());
    let connected = wait_lines(&mut launcher, "the connected line", |lines| {
        lines
            .iter()
            .find(|l| l.starts_with("mesh: connected in "))
            .cloned()
    });
    // `mesh: connected in 3s: 12 nodes, peers per node 2-4, diameter 3`
    let numbers: Vec<usize> = connected
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let [_secs, nodes, fewest, most, diameter] = numbers[..] else {
        panic!("{connected:?} is not the connected line")
    };
    assert_eq!(nodes, usize::from(NODES), "{connected}");
    assert!(
        (1..=most).contains(&fewest) && most <= MAX_PEERS,
        "{connected}"
    );
    assert!((1..usize::from(NODES)).contains(&diameter), "{connected}");
    let documented = DOC
        .lines()
        .find(|l| l.starts_with("mesh: connected in "))
        .expect("docs/cluster.md shows no connected line");
    assert_eq!(
        shape(documented),
        shape(&connected),
        "docs/cluster.md shows {documented:?}"
    );

    // Then the summary, one line per node (a cluster this small is not summed up as a
    // fleet), none above its limit.
    let first = wait_lines(&mut launcher, "the first summary", |lines| {
        let summary: Vec<String> = lines.iter().filter(|l| is_summary(l)).cloned().collect();
        (summary.len() >= usize::from(NODES)).then(|| summary[..usize::from(NODES)].to_vec())
    });
    for line in &first {
        let peers: usize = field(line, "peers")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no peers in {line:?}"));
        assert!(peers <= MAX_PEERS, "{line}");
    }

    launcher.signal(Signal::INT);
    let status = launcher.wait_exit();
    assert!(status.success(), "dawn-cluster exited with {status}");
}

/// Starts `dawn-cluster` with `args`, its output logged in `dir`.
fn launch(args: &[String], dir: &std::path::Path) -> Proc {
    Proc::start(
        "dawn-cluster",
        cluster(),
        args.iter().map(Into::into).collect(),
        Vec::new(),
        dir.join("cluster.log"),
    )
}

/// Polls the launcher's output until `check` finds what it waits for; fails the test if the
/// launcher exits first.
#[track_caller]
fn wait_lines<T>(launcher: &mut Proc, what: &str, check: impl Fn(&[String]) -> Option<T>) -> T {
    eventually(what, || {
        if let Some(status) = launcher.exit_status() {
            panic!("dawn-cluster exited ({status}) before {what}");
        }
        let lines: Vec<String> = launcher.log().lines().map(str::to_owned).collect();
        check(&lines).ok_or_else(|| format!("not printed yet; last line: {:?}", lines.last()))
    })
}

fn is_summary(line: &str) -> bool {
    line.starts_with('[') && line.contains("] node-")
}

fn is_incident(line: &str) -> bool {
    INCIDENTS.iter().any(|p| line.starts_with(p))
}

/// A summary line's field: `node` (`node-0`), or a `key=value` one.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let mut words = line.split_whitespace();
    if key == "node" {
        return words.find_map(|w| w.strip_suffix(':').filter(|n| n.starts_with("node-")));
    }
    words.find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// The `key=` fields of a summary line, in order (the bracketed rates are not fields).
fn summary_fields(line: &str) -> Vec<&str> {
    line.split_whitespace()
        .filter_map(|w| Some(w.split_once('=')?.0))
        .collect()
}

/// An incident line without what changes from run to run: the rogue peer's fresh id and
/// the seconds of `retry after` (the flood's duration eats into the window).
fn mask(line: &str) -> String {
    let mut out = line.to_owned();
    if let Some(rest) = out.strip_prefix(INCIDENTS[1])
        && let Some((_id, tail)) = rest.split_once(':')
    {
        out = format!("{}ID:{tail}", INCIDENTS[1]);
    }
    if let Some((head, tail)) = out.split_once("retry after ") {
        let tail = tail.trim_start_matches(|c: char| c.is_ascii_digit());
        out = format!("{head}retry after N{tail}");
    }
    out
}

/// A line's shape: masked as an incident, every number as `#`, every absolute path as
/// `PATH`, runs of blanks as one.
fn shape(line: &str) -> String {
    let mut words = Vec::new();
    for word in mask(line).split_whitespace() {
        if word.starts_with('/') {
            words.push("PATH".to_owned());
            continue;
        }
        let mut shaped = String::new();
        let mut chars = word.chars().peekable();
        while let Some(c) = chars.next() {
            if !c.is_ascii_digit() {
                shaped.push(c);
                continue;
            }
            // 12, 9.6: one number.
            while chars
                .peek()
                .is_some_and(|&c| c.is_ascii_digit() || c == '.')
            {
                chars.next();
            }
            shaped.push('#');
        }
        words.push(shaped);
    }
    words.join(" ")
}

/// What docs/cluster.md shows.
struct Doc {
    /// Every line of its output examples (plain fenced blocks; `sh` blocks are commands).
    output: Vec<String>,
    /// The incident lines among them.
    incidents: Vec<String>,
    /// The summary lines among them.
    summaries: Vec<String>,
    /// Its metric examples.
    metrics: Vec<MetricExample>,
}

impl Doc {
    fn parse(text: &str) -> Doc {
        let mut output = Vec::new();
        let mut prose = String::new();
        let mut fence: Option<bool> = None;
        for line in text.lines() {
            match (fence, line.trim_start().strip_prefix("```")) {
                (None, Some(info)) => fence = Some(info.trim().is_empty()),
                (Some(_), Some(_)) => fence = None,
                (Some(true), None) if !line.trim().is_empty() => output.push(line.to_owned()),
                (Some(_), None) => {}
                (None, None) => {
                    prose.push_str(line);
                    prose.push('\n');
                }
            }
        }
        let doc = Doc {
            incidents: output.iter().filter(|l| is_incident(l)).cloned().collect(),
            summaries: output.iter().filter(|l| is_summary(l)).cloned().collect(),
            metrics: MetricExample::all(&prose),
            output,
        };
        assert!(
            doc.incidents.len() >= 3 && !doc.summaries.is_empty() && doc.metrics.len() >= 20,
            "docs/cluster.md has fewer examples than expected: did its format change? \
             {} incident lines, {} summary lines, {} metric examples",
            doc.incidents.len(),
            doc.summaries.len(),
            doc.metrics.len()
        );
        doc
    }

    /// The node of the doc's summary line that shows rate-limit rejections, and their count.
    fn rate_limited(&self) -> (String, u64) {
        self.summaries
            .iter()
            .find_map(|l| {
                let n: u64 = field(l, "rate_limited")?.parse().ok()?;
                (n > 0).then(|| (field(l, "node").map(str::to_owned), n))
            })
            .and_then(|(node, n)| Some((node?, n)))
            .expect("docs/cluster.md shows no summary line with rate_limited above 0")
    }
}

/// Labels, each with the values it may have.
type Labels = Vec<(String, Vec<String>)>;

/// A metric example of the doc, as written inside backticks: `name{label="value",...}`, or
/// `{label="value"}` for the metric named last. A label's alternatives are written
/// `"a"\|"b"`; a value that is not quoted (`peer_id=B`) or a bare label name names no value.
#[derive(Debug, PartialEq)]
struct MetricExample {
    text: String,
    metric: String,
    labels: Labels,
}

impl MetricExample {
    /// Every example in `prose` (the doc outside its fenced blocks).
    fn all(prose: &str) -> Vec<MetricExample> {
        let mut examples = Vec::new();
        let mut last: Option<String> = None;
        // Odd pieces are inside backticks; a span may wrap onto the next line.
        for span in prose.split('`').skip(1).step_by(2) {
            let span = span.replace("\\|", "|").replace('\n', " ");
            let name_len = span
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(span.len());
            let (name, rest) = span.split_at(name_len);
            let Some(inner) = rest.strip_prefix('{').and_then(|r| r.strip_suffix('}')) else {
                continue;
            };
            if !name.is_empty() {
                last = Some(name.to_owned());
            }
            let Some(metric) = last.clone() else {
                continue;
            };
            let labels: Labels = inner
                .split(',')
                .filter_map(|item| {
                    let (label, values) = item.split_once('=')?;
                    let values: Option<Vec<String>> = values
                        .split('|')
                        .map(|v| {
                            let v = v.trim();
                            v.strip_prefix('"')?.strip_suffix('"').map(str::to_owned)
                        })
                        .collect();
                    Some((label.trim().to_owned(), values?))
                })
                .collect();
            if !labels.is_empty() {
                examples.push(MetricExample {
                    text: span.clone(),
                    metric,
                    labels,
                });
            }
        }
        examples
    }

    /// What of this example no exposition has: for each label value, a non-zero sample of
    /// the metric (a histogram's `_bucket`, `_sum` or `_count` counts) with that value and
    /// every single-valued label of the example.
    fn missing_from(&self, expositions: &[Exposition]) -> Vec<String> {
        let fixed: Vec<(&str, &str)> = self
            .labels
            .iter()
            .filter(|(_, values)| values.len() == 1)
            .map(|(label, values)| (label.as_str(), values[0].as_str()))
            .collect();
        let names: Vec<String> = ["", "_bucket", "_sum", "_count"]
            .iter()
            .map(|suffix| format!("{}{suffix}", self.metric))
            .collect();
        let mut missing = Vec::new();
        for (label, values) in &self.labels {
            for value in values {
                let found = expositions.iter().flat_map(|e| &e.samples).any(|s| {
                    names.contains(&s.name)
                        && s.value > 0.0
                        && s.label(label) == Some(value.as_str())
                        && fixed.iter().all(|(l, v)| s.label(l) == Some(*v))
                });
                if !found {
                    let with: Vec<String> = fixed
                        .iter()
                        .filter(|(l, _)| l != label)
                        .map(|(l, v)| format!(", {l}=\"{v}\""))
                        .collect();
                    missing.push(format!(
                        "docs/cluster.md names `{}`, but no exporter has a non-zero {} with \
                         {label}=\"{value}\"{}",
                        self.text,
                        self.metric,
                        with.concat()
                    ));
                }
            }
        }
        missing
    }
}

#[test]
fn metric_examples_are_read_from_backticks_in_prose() {
    let prose = "moves `p2p_errors_total{error_type=\"a\"\\|\"b\",component=\"rpc\"}` and \
                 `{error_type=\"c\"}`; `p2p_x{peer_id=B,agent_id,status=\"ok\"}`, not `echo {\"ms\":3}`\n\
                 nor `{x=\"y\"` or `(+N\nhalf-open)`";
    let got = MetricExample::all(prose);
    let labels = |l: &[(&str, &[&str])]| -> Labels {
        l.iter()
            .map(|(k, vs)| {
                (
                    (*k).to_owned(),
                    vs.iter().map(|v| (*v).to_owned()).collect(),
                )
            })
            .collect()
    };
    let metrics: Vec<(&str, Labels)> = got
        .iter()
        .map(|e| (e.metric.as_str(), e.labels.clone()))
        .collect();
    assert_eq!(
        metrics,
        [
            (
                "p2p_errors_total",
                labels(&[("error_type", &["a", "b"]), ("component", &["rpc"])])
            ),
            ("p2p_errors_total", labels(&[("error_type", &["c"])])),
            ("p2p_x", labels(&[("status", &["ok"])])),
        ]
    );
}

#[test]
fn lines_are_compared_without_what_changes_from_run_to_run() {
    assert_eq!(
        shape("[   5s] node-0: msgs=56 (10.9/s) x"),
        shape("[  20s] node-0: msgs=209 (9.6/s) x")
    );
    assert_eq!(shape("logs kept under /tmp/a b"), "logs kept under PATH b");
    assert_eq!(
        mask("traffic: rogue peer 3745a996: node-0 (2/2 peers), retry after 9s)"),
        "traffic: rogue peer ID: node-0 (2/2 peers), retry after Ns)"
    );
    assert_eq!(
        field("[ 1s] node-2: up=1 rate_limited=28", "node"),
        Some("node-2")
    );
    assert_eq!(
        field("[ 1s] node-2: up=1 rate_limited=28", "rate_limited"),
        Some("28")
    );
    assert_eq!(
        summary_fields("[ 1s] node-2: up=1 msgs=3 (1.0/s) health=ok"),
        ["up", "msgs", "health"]
    );
}
