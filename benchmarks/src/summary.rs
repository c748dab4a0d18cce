//! The figures of a run: each with its value, unit and target, printed as a table and
//! written to `summary.json` as `{name: number}` (what issue 5 and CI scripts read).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// What a figure should be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Target {
    /// At most this value.
    AtMost(f64),
    /// At least this value.
    AtLeast(f64),
    /// Exactly this value (e.g. 0 records lost).
    Exactly(f64),
    /// No target: reported for information (absolute timings, baselines, Python ratios).
    Info,
}

impl Target {
    /// Whether `value` meets the target (`None` when there is none).
    pub(crate) fn met(self, value: f64) -> Option<bool> {
        match self {
            Target::AtMost(t) => Some(value <= t),
            Target::AtLeast(t) => Some(value >= t),
            Target::Exactly(t) => Some(value == t),
            Target::Info => None,
        }
    }

    fn describe(self) -> String {
        match self {
            Target::AtMost(t) => format!("<= {t}"),
            Target::AtLeast(t) => format!(">= {t}"),
            Target::Exactly(t) => format!("= {t}"),
            Target::Info => String::new(),
        }
    }
}

/// A figure's declaration: its key, unit and target, written once in a group's table of
/// figures and recorded with [`Summary::put`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Spec {
    /// Its key in `summary.json`.
    pub(crate) name: &'static str,
    /// Unit, for the table.
    pub(crate) unit: &'static str,
    /// The target.
    pub(crate) target: Target,
}

/// One measured figure.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Figure {
    /// Its key in `summary.json`.
    pub(crate) name: String,
    /// The measured value.
    pub(crate) value: f64,
    /// Unit, for the table (`ratio`, `ms`, `MiB`, `records/s`, ...).
    pub(crate) unit: &'static str,
    /// The target.
    pub(crate) target: Target,
    /// How it was measured, in a few words (baseline figures, sample counts).
    pub(crate) note: String,
}

/// Every figure of a run, in the order they were recorded.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    figures: Vec<Figure>,
}

impl Summary {
    /// Records a figure (a later one with the same name replaces it).
    pub(crate) fn record(
        &mut self,
        name: &str,
        value: f64,
        unit: &'static str,
        target: Target,
        note: impl Into<String>,
    ) {
        self.figures.retain(|f| f.name != name);
        eprintln!("  {name} = {value:.4} {unit}");
        self.figures.push(Figure {
            name: name.to_owned(),
            value,
            unit,
            target,
            note: note.into(),
        });
    }

    /// Records the figure `spec` declares.
    pub(crate) fn put(&mut self, spec: &Spec, value: f64, note: impl Into<String>) {
        self.record(spec.name, value, spec.unit, spec.target, note);
    }

    /// The figures recorded so far.
    pub(crate) fn figures(&self) -> &[Figure] {
        &self.figures
    }

    /// The figures that miss their target.
    pub(crate) fn missed(&self) -> Vec<&Figure> {
        self.figures
            .iter()
            .filter(|f| f.target.met(f.value) == Some(false))
            .collect()
    }

    /// `{name: value}` as pretty JSON.
    pub(crate) fn to_json(&self) -> String {
        let map: BTreeMap<&str, serde_json::Value> = self
            .figures
            .iter()
            .map(|f| (f.name.as_str(), json_number(f.value)))
            .collect();
        serde_json::to_string_pretty(&map).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Writes [`Summary::to_json`] to `path`, creating its directory.
    pub(crate) fn write(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, self.to_json() + "\n")
    }

    /// A Markdown table: name, value, unit, target, met, note.
    pub(crate) fn table(&self) -> String {
        let mut out = String::from(
            "| figure | value | unit | target | met | how |\n|---|---|---|---|---|---|\n",
        );
        for f in &self.figures {
            let met = match f.target.met(f.value) {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                f.name,
                format_value(f.value),
                f.unit,
                f.target.describe(),
                met,
                f.note
            );
        }
        out
    }
}

/// A JSON number (non-finite values become `null`, which JSON cannot otherwise hold).
fn json_number(v: f64) -> serde_json::Value {
    serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// Three significant digits for small values, whole numbers for large ones.
fn format_value(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_json_and_table() {
        let mut s = Summary::default();
        s.record("a_ratio", 0.5, "ratio", Target::AtMost(1.0), "x");
        s.record("b_loss", 1.0, "records", Target::Exactly(0.0), "");
        s.record("c_rate", 12345.6, "records/s", Target::Info, "");
        s.record("a_ratio", 0.75, "ratio", Target::AtMost(1.0), "again");
        assert_eq!(s.figures().len(), 3);
        assert_eq!(s.missed().len(), 1);
        let json: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(json["a_ratio"], 0.75);
        assert_eq!(json["c_rate"], 12345.6);
        let table = s.table();
        assert!(
            table.contains("| a_ratio | 0.750 | ratio | <= 1 | yes | again |"),
            "{table}"
        );
        assert!(table.contains("**no**"), "{table}");
    }
}
