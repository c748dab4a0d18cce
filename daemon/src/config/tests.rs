//! A small table driven through clap and a map of variables, as the binaries drive theirs.

use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, Parser};

use super::*;

const PORT: Setting<u16> = Setting {
    flag: Flag::Value("port", "PORT"),
    env: Some("TEST_PORT"),
    help: "Where to listen.",
    accepts: "a port 1-65535",
    default: || 1,
    parse: |s| within(s, 1..=u16::MAX),
};

const LOUD: Setting<Switch> = Setting {
    flag: Flag::Switch("loud"),
    env: Some("TEST_LOUD"),
    help: "Say more.",
    accepts: "true or false",
    default: || Switch(false),
    parse: parsed,
};

const WAIT: Setting<Period> = Setting {
    flag: Flag::Value("wait", "PERIOD"),
    env: Some("TEST_WAIT"),
    help: "How long to wait.",
    accepts: PERIOD_EXPECT,
    default: || Period(Duration::from_secs(60)),
    parse: period,
};

const NAME: Setting<Option<String>> = Setting {
    flag: Flag::None,
    env: Some("TEST_NAME"),
    help: "A name to go by.",
    accepts: "any text",
    default: || None,
    parse: |s| Ok(Some(s.to_owned()).filter(|s| !s.is_empty())),
};

struct Test;

impl Table for Test {
    const SETTINGS: &'static [&'static dyn Entry] = &[&PORT, &LOUD, &WAIT, &NAME];
}

#[derive(Debug, Parser)]
#[command(name = "test")]
struct Cli {
    #[command(flatten)]
    flags: Flags<Test>,
}

fn flags(args: &[&str]) -> Flags<Test> {
    Cli::try_parse_from(std::iter::once("test").chain(args.iter().copied()))
        .expect("valid command line")
        .flags
}

#[test]
fn flag_beats_variable_beats_default() {
    let given = flags(&["--port", "80", "--loud"]);
    let env = [
        ("TEST_PORT", "81"),
        ("TEST_WAIT", "2"),
        ("TEST_LOUD", "false"),
    ];
    let mut s = Settings::new(&given, &env);
    assert_eq!(s.get(&PORT), 80);
    assert_eq!(s.get(&LOUD), Switch(true));
    assert_eq!(s.get(&WAIT), Period(Duration::from_secs(2)));
    assert_eq!(s.get(&NAME), None);
    assert!(s.finish().is_ok());

    let none = Flags::<Test>::default();
    let mut s = Settings::new(&none, &[("TEST_PORT", " 81 ")]);
    assert_eq!(s.get(&PORT), 81, "values are trimmed");
    assert_eq!(s.get(&WAIT), Period(Duration::from_secs(60)));
    assert_eq!(s.given(&WAIT), None);
    assert!(s.finish().is_ok());
}

#[test]
fn every_bad_value_is_reported_by_name_with_what_is_accepted() {
    let given = flags(&["--port", "0", "--wait", "-5"]);
    let env = [("TEST_NAME", "x"), ("TEST_LOUD", "maybe")];
    let mut s = Settings::new(&given, &env);
    assert_eq!(s.get(&PORT), 1, "the default stands in");
    s.get(&LOUD);
    s.get(&WAIT);
    s.get(&NAME);
    let errors = s.finish().expect_err("three bad values");
    let text = errors.to_string();
    assert_eq!(errors.0.len(), 3, "{text}");
    for line in [
        "--port: \"0\" is out of range; expected a port 1-65535",
        "TEST_LOUD: invalid value \"maybe\"; expected true or false, for example false",
        "--wait: \"-5\" is out of range; expected seconds",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

#[test]
fn errors_are_in_our_words_with_the_range_and_an_example() {
    for (given, line) in [
        (
            "99999",
            "--port: \"99999\" is out of range; expected a port 1-65535, for example 1",
        ),
        (
            "-1",
            "--port: \"-1\" is out of range; expected a port 1-65535, for example 1",
        ),
        (
            "eighty",
            "--port: invalid value \"eighty\"; expected a port 1-65535, for example 1",
        ),
    ] {
        let given = flags(&["--port", given]);
        let mut s = Settings::new(&given, &[]);
        s.get(&PORT);
        let text = s.finish().expect_err("a bad port").to_string();
        assert_eq!(text, line);
    }
    // An accepted text that already shows examples gets none added.
    let given = flags(&["--wait", "soon"]);
    let mut s = Settings::new(&given, &[]);
    s.get(&WAIT);
    let text = s.finish().expect_err("a bad period").to_string();
    assert!(!text.contains("for example"), "{text}");
}

#[test]
fn a_flag_shadows_its_variable_even_a_bad_one() {
    let given = flags(&["--port", "8"]);
    let mut s = Settings::new(&given, &[("TEST_PORT", "nonsense")]);
    assert_eq!(s.get(&PORT), 8);
    assert!(s.finish().is_ok());
}

#[test]
fn help_names_each_variable_what_it_accepts_and_its_default() {
    let help = Cli::command().render_long_help().to_string();
    for needle in [
        "--port <PORT>",
        "Where to listen. Accepts a port 1-65535. [env: TEST_PORT] [default: 1]",
        "--loud",
        "Say more. [env: TEST_LOUD, true or false] [default: false]",
        "[env: TEST_WAIT] [default: 60]",
        "Variables without a flag:",
        "TEST_NAME",
        "A name to go by. Accepts any text. [default: none]",
        "Every flag beats its environment variable, which beats the default.",
    ] {
        assert!(help.contains(needle), "missing {needle:?} in\n{help}");
    }
    Cli::command().debug_assert();
}

#[test]
fn variables_from_pairs_last_wins() {
    let pairs: &[(&str, &str)] = &[("A", "1"), ("B", "2"), ("A", "3")];
    assert_eq!(pairs.var("A").as_deref(), Some("3"));
    assert_eq!([("B", "2")].var("B").as_deref(), Some("2"));
    assert_eq!(pairs.var("C"), None);
}

#[test]
fn the_socket_setting() {
    let none = Flags::<Test>::default();
    let ok = format!("/{}", "s".repeat(MAX_SOCKET_PATH - 1));
    let long = format!("/{}", "s".repeat(MAX_SOCKET_PATH));
    let mut s = Settings::new(&none, &[]);
    assert_eq!(
        s.get(&SOCKET),
        PathBuf::from(dawn_proto::DEFAULT_SOCKET_PATH)
    );
    for (value, good) in [(ok.as_str(), true), (long.as_str(), false), ("", false)] {
        let env = [(dawn_proto::ENV_SOCKET, value)];
        let mut s = Settings::new(&none, &env);
        s.get(&SOCKET);
        assert_eq!(s.finish().is_ok(), good, "{value:?}");
    }
    assert!(SOCKET.accepts.contains(&MAX_SOCKET_PATH.to_string()));
}

#[test]
fn durations() {
    for (text, d) in [
        ("500ms", Duration::from_millis(500)),
        ("30s", Duration::from_secs(30)),
        ("5m", Duration::from_secs(300)),
        ("2h", Duration::from_secs(7200)),
    ] {
        let parsed: HumanDuration = text.parse().unwrap();
        assert_eq!(parsed.0, d);
        assert_eq!(parsed.to_string(), text);
    }
    for bad in ["", "5", "s", "5x", "-5s", "1.5s", "99999999999999999999h"] {
        assert!(bad.parse::<HumanDuration>().is_err(), "{bad}");
    }
}

#[test]
fn periods_and_switches() {
    assert_eq!("60".parse::<Period>().unwrap().0, Duration::from_secs(60));
    assert_eq!(
        "500ms".parse::<Period>().unwrap().0,
        Duration::from_millis(500)
    );
    assert!("1.5".parse::<Period>().is_err());
    assert!(!Period::RANGE.contains(&Period(Duration::ZERO)));
    assert!(!Period::RANGE.contains(&Period(Duration::from_secs(25 * 3600))));
    assert_eq!(Period(Duration::from_millis(500)).show_default(), "500ms");
    for yes in ["true", "1", "YES", "on"] {
        assert_eq!(yes.parse::<Switch>().unwrap(), Switch(true), "{yes}");
        assert_eq!(yes.parse::<OnOff>().unwrap(), OnOff(true), "{yes}");
    }
    for no in ["false", "0", "No", "off"] {
        assert_eq!(no.parse::<Switch>().unwrap(), Switch(false), "{no}");
    }
    assert!("maybe".parse::<Switch>().is_err());
    assert_eq!(OnOff(true).show_default(), "on");
}
