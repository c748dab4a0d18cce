"""The node's hot-path operations in Python's prometheus_client, for dawn-bench.

Times Counter.inc, Histogram.observe and Counter.labels(...).inc() with timeit, on the same
inputs as the Rust figures (benchmarks/src/hot.rs): the default seconds buckets of the
Prometheus client libraries, the same 16 observed values, the same 4 existing label sets of
(type, status). Prints one JSON object on stdout: nanoseconds per operation (median of the
repeats, net of timeit's own loop) and the versions measured.

    python hot_path.py [--quick]
"""

import json
import platform
import statistics
import sys
import timeit

try:
    import prometheus_client
    from prometheus_client import CollectorRegistry, Counter, Histogram
except ImportError as error:  # the driver installs it; say so when run by hand
    sys.exit(f"prometheus_client is not installed ({error}); pip install prometheus_client")

SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
OBSERVED = (0.0004, 0.003, 0.007, 0.012, 0.02, 0.04, 0.07, 0.09,
            0.15, 0.3, 0.6, 0.8, 1.7, 3.0, 7.5, 12.0)
LABEL_SETS = (("request", "success"), ("response", "success"),
              ("notification", "success"), ("request", "error"))


def per_op_ns(stmt, ops_per_stmt, namespace, repeats, target_s):
    """Median ns per operation of `stmt`, which performs `ops_per_stmt` operations."""
    timer = timeit.Timer(stmt, globals=namespace)
    number, elapsed = timer.autorange()
    number = max(1, int(number * target_s / max(elapsed, 1e-9)))
    samples = timer.repeat(repeat=repeats, number=number)
    return statistics.median(samples) / number / ops_per_stmt * 1e9


def main():
    quick = "--quick" in sys.argv[1:]
    repeats, target_s = (7, 0.05) if quick else (21, 0.2)

    registry = CollectorRegistry()
    counter = Counter("bench", "bench", registry=registry)
    histogram = Histogram("bench_seconds", "bench", buckets=SECONDS_BUCKETS,
                          registry=registry)
    messages = Counter("bench_messages", "bench", ["type", "status"], registry=registry)
    for labels in LABEL_SETS:
        messages.labels(*labels)
    namespace = {"counter": counter, "histogram": histogram, "messages": messages}

    # Statements unrolled over the inputs, so no indexing is timed: one line per value.
    observe = "\n".join(f"histogram.observe({v!r})" for v in OBSERVED)
    labelled = "\n".join(f"messages.labels({a!r}, {b!r}).inc()" for a, b in LABEL_SETS)

    loop_ns = per_op_ns("pass", 1, namespace, repeats, target_s)
    figures = {
        "counter_inc_ns": per_op_ns("counter.inc()", 1, namespace, repeats, target_s),
        "histogram_observe_ns": per_op_ns(observe, len(OBSERVED), namespace, repeats, target_s),
        "labelled_inc_ns": per_op_ns(labelled, len(LABEL_SETS), namespace, repeats, target_s),
    }
    # timeit's loop costs `loop_ns` per statement; the unrolled statements share it.
    figures["counter_inc_ns"] -= loop_ns
    figures["histogram_observe_ns"] -= loop_ns / len(OBSERVED)
    figures["labelled_inc_ns"] -= loop_ns / len(LABEL_SETS)
    figures.update({
        "timeit_loop_ns": loop_ns,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "prometheus_client": getattr(prometheus_client, "__version__", None)
        or _dist_version("prometheus_client"),
    })
    json.dump(figures, sys.stdout)
    sys.stdout.write("\n")


def _dist_version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # noqa: BLE001 - a version is informative only
        return "unknown"


if __name__ == "__main__":
    main()
