//! The test harness of the end-to-end tests that need something from outside the workspace
//! (a program, Python modules, root, Docker): a test that did not run is reported as
//! ignored, never as passed.
//!
//! Such a test file is a `harness = false` target (`[[test]]` in `tests/Cargo.toml`) whose
//! `main` lists its tests with [`trial!`](crate::trial) and what each needs, and hands them
//! to [`main`]:
//!
//! ```no_run
//! use dawn_tests::support::harness;
//! use dawn_tests::support::tools::PROMTOOL;
//! use dawn_tests::trial;
//!
//! fn main() -> std::process::ExitCode {
//!     harness::main(vec![trial!(promtool_likes_it).needs(PROMTOOL), trial!(plain)])
//! }
//!
//! fn promtool_likes_it() {
//!     let promtool = PROMTOOL.path();
//!     // ...
//! }
//!
//! fn plain() {}
//! ```
//!
//! [`main`] probes every need once at start-up ([`Need::missing`], the probe the test body
//! runs again through [`tools`](super::tools) to get the path). A test whose need is
//! missing is marked ignored, so the summary counts it as ignored, and after the run one
//! line per such test says what was missing and how to install it (libtest-mimic cannot
//! print a reason of its own). Under `CI=true` it is not ignored: it runs, and its body
//! fails with the same message. Output is not captured, as with `--nocapture`: a test's
//! own lines appear as it runs, and a panic's message both there and under `failures:`.
//! The usual arguments work: name filters, `--exact`, `--skip`, `--list`, `--ignored`,
//! `--include-ignored` (which runs, and fails, a test whose need is missing),
//! `--test-threads`.

use std::collections::HashMap;
use std::future::Future;
use std::process::ExitCode;

use libtest_mimic::{Arguments, FormatSetting, Trial};

use super::tools::{Missing, Need, in_ci};

/// One test: its name (the function's, see [`trial!`](crate::trial)), what it needs, and its
/// body.
pub struct Test {
    name: &'static str,
    needs: Vec<Need>,
    body: Box<dyn FnOnce() + Send>,
}

/// The Tokio runtime an async test runs in, as `#[tokio::test(flavor = ...)]` chooses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `#[tokio::test]`: one thread, the test's own.
    CurrentThread,
    /// `#[tokio::test(flavor = "multi_thread")]`, with `worker_threads` when given (else
    /// Tokio's default, one per CPU).
    MultiThread {
        /// `worker_threads = N`.
        worker_threads: Option<usize>,
    },
}

impl Flavor {
    /// A runtime of this flavor with I/O and time enabled, as `#[tokio::test]` builds it.
    fn runtime(self) -> tokio::runtime::Runtime {
        let mut builder = match self {
            Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
            Flavor::MultiThread { worker_threads } => {
                let mut builder = tokio::runtime::Builder::new_multi_thread();
                if let Some(n) = worker_threads {
                    builder.worker_threads(n);
                }
                builder
            }
        };
        builder
            .enable_all()
            .build()
            .expect("build the test's Tokio runtime")
    }
}

impl Test {
    /// A test that runs `body` on the harness's thread. Prefer [`trial!`](crate::trial),
    /// which takes the name from the function.
    pub fn new(name: &'static str, body: impl FnOnce() + Send + 'static) -> Test {
        Test {
            name,
            needs: Vec::new(),
            body: Box::new(body),
        }
    }

    /// An async test: `body`'s future runs to completion in a fresh runtime of `flavor`.
    pub fn tokio<F, Fut>(name: &'static str, flavor: Flavor, body: F) -> Test
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        Test::new(name, move || flavor.runtime().block_on(body()))
    }

    /// Adds something the test needs; without it the test is reported as ignored (or fails,
    /// under `CI=true`).
    pub fn needs(mut self, need: impl Into<Need>) -> Test {
        self.needs.push(need.into());
        self
    }
}

/// A test of the current file from its function, named as the function (so the name that
/// filters and `--exact` take is the one libtest gave it):
///
/// - `trial!(name)`: a plain `fn name()`;
/// - `trial!(async name)`: an `async fn name()`, in a current-thread runtime (`#[tokio::test]`);
/// - `trial!(async(multi_thread) name)` and `trial!(async(multi_thread, 4) name)`: in a
///   multi-thread runtime (`#[tokio::test(flavor = "multi_thread", worker_threads = 4)]`).
///
/// Chain [`Test::needs`] for what it needs.
#[macro_export]
macro_rules! trial {
    (async(multi_thread, $workers:expr) $name:ident) => {
        $crate::support::harness::Test::tokio(
            ::std::stringify!($name),
            $crate::support::harness::Flavor::MultiThread {
                worker_threads: ::std::option::Option::Some($workers),
            },
            $name,
        )
    };
    (async(multi_thread) $name:ident) => {
        $crate::support::harness::Test::tokio(
            ::std::stringify!($name),
            $crate::support::harness::Flavor::MultiThread {
                worker_threads: ::std::option::Option::None,
            },
            $name,
        )
    };
    (async $name:ident) => {
        $crate::support::harness::Test::tokio(
            ::std::stringify!($name),
            $crate::support::harness::Flavor::CurrentThread,
            $name,
        )
    };
    ($name:ident) => {
        $crate::support::harness::Test::new(::std::stringify!($name), $name)
    };
}

/// Runs `tests` with the command line's arguments, as libtest would; returns the exit code
/// (101 when a test failed). Tests whose needs are missing are ignored unless `CI=true`,
/// and named afterwards with what was missing.
pub fn main(tests: Vec<Test>) -> ExitCode {
    let args = Arguments::from_args();
    let ci = in_ci();
    let mut probed: HashMap<Need, Option<Missing>> = HashMap::new();
    let mut not_run: Vec<(&'static str, Vec<Missing>)> = Vec::new();
    let trials: Vec<Trial> = tests
        .into_iter()
        .map(|test| {
            let missing: Vec<Missing> = test
                .needs
                .iter()
                .filter_map(|need| {
                    probed
                        .entry(need.clone())
                        .or_insert_with(|| need.missing())
                        .clone()
                })
                .collect();
            let body = test.body;
            let trial = Trial::test(test.name, move || {
                body();
                Ok(())
            })
            .with_ignored_flag(!ci && !missing.is_empty());
            if !missing.is_empty() && !args.is_filtered_out(&trial) && args.is_ignored(&trial) {
                not_run.push((test.name, missing));
            }
            trial
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    if !args.list && args.format != Some(FormatSetting::Json) {
        for (name, missing) in &not_run {
            let reasons: Vec<String> = missing.iter().map(Missing::to_string).collect();
            println!("did not run: {name} — {}", reasons.join("; and "));
        }
    }
    conclusion.exit_code()
}

#[cfg(test)]
mod tests {
    use tokio::runtime::{Handle, RuntimeFlavor};

    use super::Test;

    async fn on_current_thread() {
        assert_eq!(
            Handle::current().runtime_flavor(),
            RuntimeFlavor::CurrentThread
        );
    }

    async fn on_two_workers() {
        let handle = Handle::current();
        assert_eq!(handle.runtime_flavor(), RuntimeFlavor::MultiThread);
        assert_eq!(handle.metrics().num_workers(), 2);
    }

    async fn on_many_threads() {
        assert_eq!(
            Handle::current().runtime_flavor(),
            RuntimeFlavor::MultiThread
        );
    }

    fn plain() {}

    /// Runs `test`'s body here, as the harness would.
    fn run(test: Test) {
        (test.body)();
    }

    #[test]
    fn trial_names_a_test_after_its_function() {
        assert_eq!(crate::trial!(plain).name, "plain");
        assert_eq!(
            crate::trial!(async on_current_thread).name,
            "on_current_thread"
        );
    }

    #[test]
    fn async_tests_keep_their_runtime_flavor() {
        run(crate::trial!(async on_current_thread));
        run(crate::trial!(async(multi_thread, 2) on_two_workers));
        run(crate::trial!(async(multi_thread) on_many_threads));
    }
}
