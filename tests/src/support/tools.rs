//! External tools some tests need: `prometheus` and `promtool` (Debian package `prometheus`),
//! Alertmanager and `amtool` (Debian package `prometheus-alertmanager`).

use std::path::PathBuf;

/// Whether this is a CI run (`CI=true`), where missing tools fail tests instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Finds `name` on `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The path of tool `name` for a test that needs it.
///
/// When it is missing: under `CI=true` the test fails; otherwise a loud message says the test
/// was skipped and `None` is returned (the test then returns early).
#[track_caller]
pub fn require(name: &str) -> Option<PathBuf> {
    if let Some(p) = find_on_path(name) {
        return Some(p);
    }
    let hint = "install it with `apt-get install -y prometheus` (gives prometheus and promtool)";
    if in_ci() {
        panic!("`{name}` is not on PATH and CI=true: this test must run in CI; {hint}");
    }
    eprintln!(
        "\n!!!!!!!! SKIPPED: `{name}` is not on PATH, so this test did not run; {hint} \
         (with CI=true this is a failure) !!!!!!!!\n"
    );
    None
}

/// The first of `names` found on `PATH`, for a test that needs one of them; `package` is the
/// Debian package that provides it. Missing: fails under `CI=true`, else skips loudly (see
/// [`require`]).
#[track_caller]
pub fn require_one_of(names: &[&str], package: &str) -> Option<PathBuf> {
    if let Some(p) = names.iter().find_map(|n| find_on_path(n)) {
        return Some(p);
    }
    let hint = format!("install it with `apt-get install -y {package}`");
    let names = names.join("` or `");
    if in_ci() {
        panic!("`{names}` is not on PATH and CI=true: this test must run in CI; {hint}");
    }
    eprintln!(
        "\n!!!!!!!! SKIPPED: `{names}` is not on PATH, so this test did not run; {hint} \
         (with CI=true this is a failure) !!!!!!!!\n"
    );
    None
}

/// Alertmanager: Debian's package `prometheus-alertmanager` installs it as
/// `prometheus-alertmanager`, upstream's release as `alertmanager`.
#[track_caller]
pub fn require_alertmanager() -> Option<PathBuf> {
    require_one_of(
        &["prometheus-alertmanager", "alertmanager"],
        "prometheus-alertmanager",
    )
}

/// `amtool`, Alertmanager's command-line tool (same package).
#[track_caller]
pub fn require_amtool() -> Option<PathBuf> {
    require_one_of(&["amtool"], "prometheus-alertmanager")
}
