//! Just enough PromQL structure to take an expression apart at its outermost operator.
//!
//! An alert expression is usually empty while all is well (`dawn_node_up == 0` has no
//! result while every node is up), so "this expression returns data" is checked on its
//! parts: the operands of its outermost `or`, `and`, `unless` or comparison, or the argument
//! of `absent(...)`. [`split`] finds those parts; it does not parse PromQL, it only tracks
//! brackets and strings, which is all the outermost operator needs.

/// The outermost operator of an expression and the operands that must return data for the
/// expression to be able to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The operator (`or`, `and`, `unless`, `==`, `>`, ...) or function (`absent`).
    pub op: String,
    /// The operands to check: both sides of `or`/`and`; the left of `unless`; the left of a
    /// comparison and its right unless that is a number; the argument of `absent`.
    pub operands: Vec<String>,
}

/// Operator classes from the loosest binding: the expression splits at the last (PromQL
/// binary operators are left-associative) top-level operator of the loosest class present.
const CLASSES: &[&[&str]] = &[
    &["or"],
    &["and", "unless"],
    &["==", "!=", ">=", "<=", ">", "<"],
];

/// Splits `expr` at its outermost operator; `None` for a selector, a function call other
/// than `absent`/`absent_over_time`, arithmetic, or a literal.
pub fn split(expr: &str) -> Option<Split> {
    let expr = strip_parens(expr.trim());
    let tokens = top_level_operators(expr);
    for class in CLASSES {
        let Some(&(pos, op)) = tokens.iter().rev().find(|(_, op)| class.contains(op)) else {
            continue;
        };
        let left = expr[..pos].trim().to_owned();
        let right = strip_modifiers(expr[pos + op.len()..].trim()).to_owned();
        let operands = match op {
            "or" | "and" => vec![left, right],
            "unless" => vec![left],
            _ if is_number(&right) => vec![left],
            _ => vec![left, right],
        };
        return Some(Split {
            op: op.to_owned(),
            operands,
        });
    }
    for function in ["absent", "absent_over_time"] {
        if let Some(rest) = expr.strip_prefix(function)
            && let Some(inner) = whole_parens(rest.trim_start())
        {
            let inner = inner.trim();
            let inner = match inner.rfind('[') {
                Some(i) if function == "absent_over_time" && inner.ends_with(']') => &inner[..i],
                _ => inner,
            };
            return Some(Split {
                op: function.to_owned(),
                operands: vec![inner.trim().to_owned()],
            });
        }
    }
    None
}

/// Byte offset and operator of every binary operator (of [`CLASSES`]) outside brackets and
/// strings, in order.
fn top_level_operators(expr: &str) -> Vec<(usize, &'static str)> {
    let bytes = expr.as_bytes();
    let mut found = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(q) = quote {
            if b == b'\\' && q != b'`' {
                i += 2;
                continue;
            }
            if b == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match b {
            b'"' | b'\'' | b'`' => quote = Some(b),
            b'(' | b'{' | b'[' => depth += 1,
            b')' | b'}' | b']' => depth -= 1,
            b'#' if depth == 0 => break, // a comment runs to the end of the line
            _ if depth == 0 => {
                if let Some(op) = operator_at(expr, i) {
                    found.push((i, op));
                    i += op.len();
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// The operator starting at byte `i`, if any: a symbol, or a keyword standing as a word.
fn operator_at(expr: &str, i: usize) -> Option<&'static str> {
    let rest = &expr[i..];
    for sym in ["==", "!=", ">=", "<=", ">", "<"] {
        if rest.starts_with(sym) {
            return Some(sym);
        }
    }
    let word_before = expr[..i].chars().next_back().is_some_and(is_ident);
    if word_before {
        return None;
    }
    for word in ["or", "and", "unless"] {
        if rest.starts_with(word) && !rest[word.len()..].chars().next().is_some_and(is_ident) {
            return Some(word);
        }
    }
    None
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// `(x)` → `x`, repeatedly, when the outer parentheses enclose the whole expression.
fn strip_parens(mut expr: &str) -> &str {
    while let Some(inner) = whole_parens(expr) {
        expr = inner.trim();
    }
    expr
}

/// The inside of `s` when `s` is one parenthesised group from its first to its last byte.
fn whole_parens(s: &str) -> Option<&str> {
    if !s.starts_with('(') || !s.ends_with(')') {
        return None;
    }
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '{' | '[' => depth += 1,
            ')' | '}' | ']' => {
                depth -= 1;
                if depth == 0 && i != s.len() - 1 {
                    return None;
                }
            }
            _ => {}
        }
    }
    Some(&s[1..s.len() - 1])
}

/// The right operand without its leading `bool`, `on(..)`/`ignoring(..)` and
/// `group_left(..)`/`group_right(..)` modifiers.
fn strip_modifiers(mut s: &str) -> &str {
    loop {
        let before = s;
        for word in ["bool", "on", "ignoring", "group_left", "group_right"] {
            if let Some(rest) = s.strip_prefix(word)
                && !rest.chars().next().is_some_and(is_ident)
            {
                let rest = rest.trim_start();
                s = match rest
                    .strip_prefix('(')
                    .and_then(|r| r.find(')').map(|j| &r[j + 1..]))
                {
                    Some(after) => after.trim_start(),
                    None => rest,
                };
            }
        }
        if s == before {
            return s;
        }
    }
}

fn is_number(s: &str) -> bool {
    let s = s.trim();
    s.parse::<f64>().is_ok()
        || matches!(
            s.to_ascii_lowercase().as_str(),
            "inf" | "+inf" | "-inf" | "nan"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(expr: &str) -> (String, Vec<String>) {
        let s = split(expr).unwrap_or_else(|| panic!("no split of {expr:?}"));
        (s.op, s.operands)
    }

    #[test]
    fn comparisons_keep_the_left_and_a_non_literal_right() {
        assert_eq!(
            parts(r#"up{job="dawn"} == 0"#),
            ("==".into(), vec![r#"up{job="dawn"}"#.into()])
        );
        assert_eq!(
            parts("sum without (type, status) (rate(a[5m])) / sum without (type, status) (rate(b[5m])) > 0.05"),
            (
                ">".into(),
                vec!["sum without (type, status) (rate(a[5m])) / sum without (type, status) (rate(b[5m]))".into()]
            )
        );
        assert_eq!(parts("a > bool 1e-3"), (">".into(), vec!["a".into()]));
        assert_eq!(
            parts("a >= on (job, instance) group_left (node_id) b"),
            (">=".into(), vec!["a".into(), "b".into()])
        );
        assert_eq!(
            parts(r#"increase(x{reason!~"a|b",c!="d"}[10m]) > 0"#),
            (
                ">".into(),
                vec![r#"increase(x{reason!~"a|b",c!="d"}[10m])"#.into()]
            )
        );
    }

    #[test]
    fn set_operators_bind_looser_than_comparisons() {
        assert_eq!(
            parts("p2p_peers == 0 and dawn_node_up == 1"),
            (
                "and".into(),
                vec!["p2p_peers == 0".into(), "dawn_node_up == 1".into()]
            )
        );
        assert_eq!(
            parts("count(x == 1) or vector(0)"),
            (
                "or".into(),
                vec!["count(x == 1)".into(), "vector(0)".into()]
            )
        );
        assert_eq!(parts("a unless b"), ("unless".into(), vec!["a".into()]));
        assert_eq!(
            parts("a and b or c and d"),
            ("or".into(), vec!["a and b".into(), "c and d".into()])
        );
    }

    #[test]
    fn absent_gives_its_argument() {
        assert_eq!(
            parts(r#"absent(dawn_node_up{job="dawn"})"#),
            ("absent".into(), vec![r#"dawn_node_up{job="dawn"}"#.into()])
        );
        assert_eq!(
            parts("absent_over_time(up[5m])"),
            ("absent_over_time".into(), vec!["up".into()])
        );
    }

    #[test]
    fn words_strings_and_brackets_are_not_operators() {
        assert_eq!(split("random_value"), None);
        assert_eq!(split("sum by (operation, android) (rate(x[5m]))"), None);
        assert_eq!(split(r#"x{a="b > c and d"}"#), None);
        assert_eq!(
            split(r#"label_replace(x, "d", "$1", "s", "(.*)>or")"#),
            None
        );
        assert_eq!(
            split("histogram_quantile(0.99, sum by (le) (rate(x[5m])))"),
            None
        );
        assert_eq!(
            split("(a > 1)"),
            Some(Split {
                op: ">".into(),
                operands: vec!["a".into()]
            })
        );
        assert_eq!(split("(a) + (b)"), None);
    }
}
