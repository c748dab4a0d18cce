//! The JSON line format: `timestamp`, `level`, `logger`, `message`, `context`, `exception`.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// A fmt layer writing the JSON lines of docs/operations.md ("Logging") to `writer`.
pub(super) fn layer<S, W>(writer: W) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    tracing_subscriber::fmt::layer()
        .fmt_fields(JsonFields::new())
        .event_format(JsonLines)
        .with_writer(writer)
}

/// Formats events as JSON lines (docs/operations.md, "Logging"); span fields must be
/// formatted with `JsonFields`.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut context = Map::new();
        // Outermost span first, so an event's own fields and inner spans win on clashes.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>()
                    && let Ok(Value::Object(map)) = serde_json::from_str::<Value>(fields)
                {
                    context.extend(map);
                }
            }
        }
        let mut visitor = EventFields {
            message: String::new(),
            exception: None,
            critical: false,
            context,
        };
        event.record(&mut visitor);
        let meta = event.metadata();
        let level = match *meta.level() {
            Level::ERROR if visitor.critical => "CRITICAL",
            Level::ERROR => "ERROR",
            Level::WARN => "WARNING",
            Level::INFO => "INFO",
            Level::DEBUG | Level::TRACE => "DEBUG",
        };
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::String(crate::time::now_rfc3339()),
        );
        line.insert("level".into(), Value::String(level.into()));
        line.insert("logger".into(), Value::String(meta.target().into()));
        line.insert("message".into(), Value::String(visitor.message));
        line.insert("context".into(), Value::Object(visitor.context));
        if let Some(e) = visitor.exception {
            line.insert("exception".into(), Value::String(e));
        }
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

struct EventFields {
    message: String,
    exception: Option<String>,
    critical: bool,
    context: Map<String, Value>,
}

impl EventFields {
    fn put(&mut self, field: &Field, value: Value) {
        match field.name() {
            "message" => {
                self.message = match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                }
            }
            "error" | "exception" => {
                self.exception = Some(match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                })
            }
            "critical" if value == Value::Bool(true) => self.critical = true,
            name => {
                self.context.insert(name.to_owned(), value);
            }
        }
    }
}

impl Visit for EventFields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let v = serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
        self.put(field, v);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        self.put(field, Value::String(text));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Capture {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    fn lines(f: impl FnOnce()) -> Vec<Value> {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry().with(layer(capture.clone()));
        tracing::subscriber::with_default(subscriber, f);
        let bytes = capture.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn json_line_has_the_documented_fields() {
        let got = lines(|| {
            let span = tracing::info_span!("conn", peer_id = "abc", attempt = 2);
            let _g = span.enter();
            let err = io::Error::other("boom");
            tracing::warn!(
                address = "127.0.0.1:1",
                error = &err as &dyn std::error::Error,
                "Connected to peer"
            );
            tracing::error!(critical = true, "disk gone");
        });
        assert_eq!(got.len(), 2);
        let first = &got[0];
        assert_eq!(first["level"], "WARNING");
        assert_eq!(first["logger"], module_path!());
        assert_eq!(first["message"], "Connected to peer");
        assert_eq!(first["context"]["peer_id"], "abc");
        assert_eq!(first["context"]["attempt"], 2);
        assert_eq!(first["context"]["address"], "127.0.0.1:1");
        assert_eq!(first["exception"], "boom");
        let ts = first["timestamp"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.len() == 24, "{ts}");
        assert_eq!(got[1]["level"], "CRITICAL");
        assert!(got[1].get("exception").is_none());
    }
}
