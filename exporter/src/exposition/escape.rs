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

/// The `(name, value)` pairs of labels that [`render_labels`] rendered, values unescaped:
/// the protobuf format takes apart the one text the store keeps per series, so both
/// formats carry the same labels and a series costs no second copy of them.
pub(crate) fn parse_labels(rendered: &str) -> Vec<(&str, String)> {
    let mut pairs = Vec::new();
    let mut rest = rendered;
    while let Some((name, after)) = rest.split_once("=\"") {
        let mut value = String::with_capacity(after.len().min(64));
        let mut end = after.len();
        let mut chars = after.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    end = i + 1;
                    break;
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => {}
                },
                c => value.push(c),
            }
        }
        pairs.push((name, value));
        rest = after[end..].strip_prefix(',').unwrap_or(&after[end..]);
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_labels_undoes_render_labels() {
        let cases: &[&[(&str, &str)]] = &[
            &[],
            &[("a", "")],
            &[("a", "x"), ("b", "q\"uo\\te\nnl"), ("c", "=\",\\\"")],
            &[("le_ish", "é, ünïcode"), ("z", "\\n")],
        ];
        for pairs in cases {
            let rendered = render_labels(pairs.iter().copied());
            let parsed = parse_labels(&rendered);
            let parsed: Vec<(&str, &str)> = parsed.iter().map(|(n, v)| (*n, v.as_str())).collect();
            assert_eq!(parsed, *pairs, "{rendered}");
        }
    }

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
