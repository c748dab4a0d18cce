//! Best-effort recovery of the `"id"` of a message that is not valid JSON, so that the
//! parse-error reply can still name the request it answers.
//!
//! The scan reads the top-level object member by member and stops at the first thing it
//! does not understand: an id that appears before the damage (the usual case for a
//! truncated message, since senders write `jsonrpc` and `id` first) is found, one after it
//! is not. It never allocates more than the id itself and runs in one pass over the input.

use super::id::Id;

/// The `"id"` of the top-level object in `bytes`, if it can be read before the first error.
pub(super) fn recover_id(bytes: &[u8]) -> Option<Id> {
    let mut s = Scanner { bytes, pos: 0 };
    s.skip_ws();
    s.eat(b'{')?;
    loop {
        s.skip_ws();
        let key = s.string()?;
        s.skip_ws();
        s.eat(b':')?;
        s.skip_ws();
        if serde_json::from_slice::<String>(key).ok()? == "id" {
            return match s.peek()? {
                b'"' => serde_json::from_slice::<String>(s.string()?)
                    .ok()
                    .map(Id::String),
                _ => serde_json::from_slice::<i64>(s.scalar()?)
                    .ok()
                    .map(Id::Number),
            };
        }
        s.skip_value()?;
        s.skip_ws();
        s.eat(b',')?;
    }
}

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek()? == c {
            self.pos += 1;
            Some(())
        } else {
            None
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// A complete string token, quotes included.
    fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        self.eat(b'"')?;
        loop {
            match self.peek()? {
                b'\\' => self.pos += 2,
                b'"' => {
                    self.pos += 1;
                    return self.bytes.get(start..self.pos);
                }
                _ => self.pos += 1,
            }
        }
    }

    /// A number or literal token; `None` unless something follows it, since a token that
    /// runs to the end of a truncated input may itself be cut short.
    fn scalar(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        while matches!(
            self.peek()?,
            b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'+' | b'-' | b'.'
        ) {
            self.pos += 1;
        }
        if self.pos == start {
            return None;
        }
        self.bytes.get(start..self.pos)
    }

    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' | b'[' => self.skip_nested(),
            _ => self.scalar().map(drop),
        }
    }

    /// Skips a whole object or array, strings inside included.
    fn skip_nested(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match self.peek()? {
                b'"' => {
                    self.string()?;
                }
                b'{' | b'[' => {
                    depth += 1;
                    self.pos += 1;
                }
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    self.pos += 1;
                    if depth == 0 {
                        return Some(());
                    }
                }
                _ => self.pos += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_ids_written_before_the_damage() {
        let table: &[(&str, Option<Id>)] = &[
            (
                r#"{"jsonrpc":"2.0","id":7,"method":"x","par"#,
                Some(Id::Number(7)),
            ),
            (r#"{"id":"abc","method":}"#, Some(Id::from("abc"))),
            (
                r#" { "jsonrpc" : "2.0" , "id" : -3 , oops"#,
                Some(Id::Number(-3)),
            ),
            (
                r#"{"params":{"a":[1,"}",{"b":null}]},"id":9,"#,
                Some(Id::Number(9)),
            ),
            (r#"{"\u0069d":5,"#, Some(Id::Number(5))),
            (r#"{"id":"a\"b",x"#, Some(Id::from("a\"b"))),
            // The id itself is cut short or absent: nothing to name.
            (r#"{"id":12"#, None),
            (r#"{"id":"ab"#, None),
            (r#"{"id":null,x"#, None),
            (r#"{"id":1.5,x"#, None),
            (r#"{"id":true,x"#, None),
            (r#"{"method":"x" "id":1}"#, None),
            (r#"{"method":"x","#, None),
            (r#"[{"id":1}"#, None),
            ("", None),
            ("garbage", None),
            (r#"{"a":]]]]"id":1}"#, None),
        ];
        for (text, expected) in table {
            assert_eq!(&recover_id(text.as_bytes()), expected, "{text}");
        }
    }

    #[test]
    fn survives_arbitrary_bytes() {
        let alphabet = b"{}[]\",:\\ id0123456789-x";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for len in 0..512 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    alphabet[(state % alphabet.len() as u64) as usize]
                })
                .collect();
            let _ = recover_id(&bytes);
        }
    }
}
