//! The text of a vector file: hex bytes, whitespace-separated, and `#` comments to the end
//! of a line. Other implementations read the bytes and ignore the comments.

use super::annotate::Line;

/// Bytes per line; a longer field continues on the next lines.
const BYTES_PER_LINE: usize = 16;

/// Width of the hex column (`xx ` per byte), where the notes start.
const NOTE_COLUMN: usize = BYTES_PER_LINE * 3 + 1;

/// The bytes of a vector file, comments ignored; an error names the bad line.
pub(crate) fn parse(text: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let data = line.split('#').next().unwrap_or_default();
        for token in data.split_whitespace() {
            let byte = (token.len() == 2)
                .then(|| u8::from_str_radix(token, 16).ok())
                .flatten()
                .ok_or_else(|| format!("line {}: {token:?} is not one hex byte", number + 1))?;
            bytes.push(byte);
        }
    }
    Ok(bytes)
}

/// The file: `header` as comment lines, a blank line, then one line per field.
pub(crate) fn render(header: &[String], lines: &[Line]) -> String {
    let mut out = String::new();
    for h in header {
        if h.is_empty() {
            out.push_str("#\n");
        } else {
            out.push_str(&format!("# {h}\n"));
        }
    }
    out.push('\n');
    for line in lines {
        let mut chunks = line.bytes.chunks(BYTES_PER_LINE);
        let first = chunks.next().unwrap_or_default();
        out.push_str(&format!("{:<NOTE_COLUMN$}# {}\n", hex(first), line.note));
        for chunk in chunks {
            out.push_str(&hex(chunk));
            out.push('\n');
        }
    }
    out
}

/// `bytes` as lower-case hex pairs separated by spaces.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
