//! Escaping of label values and help text.

/// Appends a label value escaped per the exposition formats: `\` → `\\`, `"` → `\"`,
/// newline → `\n`.
pub(crate) fn push_label_value(out: &mut String, value: &str) {
    push_escaped(out, value, true);
}

/// Appends help text escaped for the text format 0.0.4 (`\` and newline).
pub(crate) fn push_help_text(out: &mut String, help: &str) {
    push_escaped(out, help, false);
}

/// Appends help text escaped for OpenMetrics (`\`, newline and `"`).
pub(crate) fn push_help_openmetrics(out: &mut String, help: &str) {
    push_escaped(out, help, true);
}

fn push_escaped(out: &mut String, s: &str, quote: bool) {
    let special = |c: char| c == '\\' || c == '\n' || (quote && c == '"');
    if !s.contains(special) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// Renders `name="value"` pairs joined by commas, without braces: the form the encoder
/// takes, built once per series.
pub(crate) fn render_labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (i, (name, value)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        push_label_value(&mut out, value);
        out.push('"');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_label_values() {
        let labels = render_labels([("a", "x"), ("b", "q\"uo\\te\nnl")]);
        assert_eq!(labels, r#"a="x",b="q\"uo\\te\nnl""#);
        assert_eq!(render_labels([]), "");
    }

    #[test]
    fn help_quotes_only_in_openmetrics() {
        let mut text = String::new();
        push_help_text(&mut text, "a \"b\" \\ c\nd");
        assert_eq!(text, "a \"b\" \\\\ c\\nd");
        let mut om = String::new();
        push_help_openmetrics(&mut om, "a \"b\"");
        assert_eq!(om, "a \\\"b\\\"");
    }
}
