//! The HTML landing page at `/`: a link per endpoint of the route table.

/// Escapes text for HTML.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page, linking each `(path, description)`.
pub(crate) fn page(endpoints: &[(&str, &str)]) -> String {
    let mut items = String::new();
    for (path, what) in endpoints {
        let p = escape(path);
        items.push_str(&format!(
            "      <li><a href=\"{p}\">{p}</a> &mdash; {}</li>\n",
            escape(what)
        ));
    }
    format!(
        "<!DOCTYPE html>\n\
         <html lang=\"en\">\n\
         <head>\n  <meta charset=\"utf-8\">\n  <title>Dawn exporter</title>\n</head>\n\
         <body>\n  <h1>Dawn exporter</h1>\n  <p>Version {}. Prometheus metrics and health of the Dawn node.</p>\n  <ul>\n{items}  </ul>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_escapes() {
        let page = page(&[("/m<x>", "metrics & more")]);
        assert!(
            page.contains("<a href=\"/m&lt;x&gt;\">/m&lt;x&gt;</a> &mdash; metrics &amp; more")
        );
    }
}
