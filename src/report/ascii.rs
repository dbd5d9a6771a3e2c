//! ASCII fallback for human output outside UTF-8 locales (`LANG=C`, `LC_ALL=C`, a serial
//! console): every non-ASCII character becomes an ASCII spelling ("—" -> "-", "…" -> "...",
//! "§" -> "section ", "✓" -> "ok", box drawing -> `+ - |`), or `?` when it has none. Text
//! written through [`AsciiWriter`] never carries a byte above 0x7f.

use std::borrow::Cow;
use std::io::{self, Write};

/// The ASCII spelling of one non-ASCII character (`None`: no spelling, shown as `?`).
fn spell(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{2014}' | '\u{2013}' | '\u{2012}' | '\u{2015}' | '\u{2212}' | '\u{2010}' | '\u{2011}' => "-",
        '\u{2026}' => "...",
        '\u{a7}' => "section ",
        '\u{b6}' => "para. ",
        '\u{2713}' | '\u{2714}' => "ok",
        '\u{2717}' | '\u{2718}' | '\u{d7}' => "x",
        '\u{b7}' | '\u{2022}' | '\u{2219}' => "*",
        '\u{23ce}' => "\\n",
        '\u{2192}' | '\u{27f6}' | '\u{279c}' => "->",
        '\u{2190}' => "<-",
        '\u{21d2}' => "=>",
        '\u{2194}' => "<->",
        '\u{2265}' => ">=",
        '\u{2264}' => "<=",
        '\u{2260}' => "!=",
        '\u{2248}' => "~",
        '\u{b1}' => "+/-",
        '\u{b0}' => " deg",
        '\u{b5}' | '\u{3bc}' => "u",
        '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{ab}' | '\u{bb}' => "\"",
        '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{2032}' => "'",
        '\u{a0}' | '\u{2002}' | '\u{2003}' | '\u{2009}' | '\u{202f}' => " ",
        '\u{200b}' | '\u{feff}' => "",
        '\u{26a0}' => "!",
        '\u{25b6}' | '\u{25ba}' => ">",
        '\u{a9}' => "(c)",
        '\u{ae}' => "(R)",
        '\u{2122}' => "(TM)",
        // Box drawing (U+2500..U+257F): lines, corners and joints.
        '\u{2500}' | '\u{2501}' | '\u{2504}' | '\u{2505}' | '\u{2508}' | '\u{2509}' | '\u{254c}' | '\u{254d}'
        | '\u{2574}' | '\u{2576}' | '\u{2578}' | '\u{257a}' | '\u{257c}' | '\u{257e}' => "-",
        '\u{2550}' => "=",
        '\u{2502}' | '\u{2503}' | '\u{2506}' | '\u{2507}' | '\u{250a}' | '\u{250b}' | '\u{254e}' | '\u{254f}'
        | '\u{2551}' | '\u{2575}' | '\u{2577}' | '\u{2579}' | '\u{257b}' | '\u{257d}' | '\u{257f}' => "|",
        '\u{2500}'..='\u{257f}' => "+",
        // Latin letters with marks: the letter without them.
        '\u{e0}'..='\u{e5}' => "a",
        '\u{c0}'..='\u{c5}' => "A",
        '\u{e8}'..='\u{eb}' => "e",
        '\u{c8}'..='\u{cb}' => "E",
        '\u{ec}'..='\u{ef}' => "i",
        '\u{cc}'..='\u{cf}' => "I",
        '\u{f2}'..='\u{f6}' | '\u{f8}' => "o",
        '\u{d2}'..='\u{d6}' | '\u{d8}' => "O",
        '\u{f9}'..='\u{fc}' => "u",
        '\u{d9}'..='\u{dc}' => "U",
        '\u{e7}' => "c",
        '\u{c7}' => "C",
        '\u{f1}' => "n",
        '\u{d1}' => "N",
        '\u{df}' => "ss",
        _ => return None,
    })
}

/// `s` with every non-ASCII character spelled in ASCII (borrowed when it is ASCII already).
pub fn to_ascii(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(spell(c).unwrap_or("?"));
        }
    }
    Cow::Owned(out)
}

/// `s` as is in a UTF-8 locale, else [`to_ascii`].
pub fn localize(s: &str, unicode: bool) -> Cow<'_, str> {
    if unicode { Cow::Borrowed(s) } else { to_ascii(s) }
}

/// A writer that spells everything written through it in ASCII. A character split across two
/// writes is held until its last byte arrives; bytes that are not UTF-8 become `?`.
pub struct AsciiWriter<W: Write> {
    inner: W,
    /// The start of a character whose remaining bytes have not been written yet.
    pending: Vec<u8>,
}

impl<W: Write> AsciiWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        AsciiWriter { inner, pending: Vec::new() }
    }
}

impl<W: Write> Write for AsciiWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut bytes = std::mem::take(&mut self.pending);
        bytes.extend_from_slice(buf);
        let mut out = String::with_capacity(bytes.len());
        let mut rest = &bytes[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(&to_ascii(s));
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    // The prefix is valid UTF-8 by construction.
                    out.push_str(&to_ascii(std::str::from_utf8(good).unwrap_or_default()));
                    match e.error_len() {
                        // An incomplete character at the end: wait for the rest.
                        None => {
                            self.pending = bad.to_vec();
                            break;
                        }
                        Some(n) => {
                            out.push('?');
                            rest = &bad[n..];
                        }
                    }
                }
            }
        }
        self.inner.write_all(out.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            // A character that never completed.
            self.pending.clear();
            self.inner.write_all(b"?")?;
        }
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spells_every_character_the_tool_prints_in_ascii() {
        let s = "install — 3 change(s)… §4 ✓ ✗ · ⏎ → ≥ 6.18 “quoted” ─│┌┐└┘├┤ café ü 日本";
        let a = to_ascii(s);
        assert!(a.is_ascii(), "{a}");
        assert_eq!(a, "install - 3 change(s)... section 4 ok x * \\n -> >= 6.18 \"quoted\" -|++++++ cafe u ??");
        assert!(matches!(to_ascii("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn the_writer_holds_a_character_split_across_writes() {
        let mut w = AsciiWriter::new(Vec::new());
        let dash = "a—b".as_bytes();
        w.write_all(&dash[..2]).unwrap();
        w.write_all(&dash[2..]).unwrap();
        w.write_all(b"\xff!").unwrap();
        w.flush().unwrap();
        assert_eq!(String::from_utf8(w.inner).unwrap(), "a-b?!");
    }
}
