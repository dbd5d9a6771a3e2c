//! Every YAML document npu-setup reads — recipes, `grub/policy.yaml`, the install `--config`
//! file, a fixture's or a bundle's `.fixture.yaml` — goes through [`from_str`]: nesting is
//! bounded before serde sees the text, and errors carry line and column.
//!
//! Why a pre-scan: the YAML parser under `serde_yaml` (libyaml's scanner) does work
//! proportional to the flow nesting depth for every token, and loads a whole document
//! before the deserializer's own recursion limit (128) looks at it, so 100 KB of nested
//! `{a: {a: …` took seconds, megabytes took minutes. The pre-scan streams the document's
//! events with saphyr-parser, a pure-Rust YAML parser with a bounded scanner, and stops at
//! the first collection nested deeper than [`MAX_DEPTH`]: linear time, whatever the input.

use serde::de::DeserializeOwned;

/// Deepest nesting of sequences and mappings accepted. Our documents nest at most about 6
/// deep; 64 leaves room for any hand-written file and keeps the parser linear.
pub const MAX_DEPTH: usize = 64;

/// A YAML document that could not be read: where (1-based line and column, 0 when unknown)
/// and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.located())]
pub struct YamlError {
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// What was wrong, without the location.
    pub message: String,
}

impl YamlError {
    /// `:LINE:COLUMN: message` (or `: message` without a location), to follow a file name.
    pub fn located(&self) -> String {
        if self.line == 0 {
            format!(": {}", self.message)
        } else {
            format!(":{}:{}: {}", self.line, self.column, self.message)
        }
    }
}

/// Refuses a document nested deeper than [`MAX_DEPTH`] (or not YAML at all), in time
/// linear in its length.
pub fn check_depth(text: &str) -> Result<(), YamlError> {
    use saphyr_parser::{Event, Parser};
    let too_deep = |line: usize, column: usize| YamlError {
        line,
        column,
        message: format!("nested more than {MAX_DEPTH} levels deep; refused (no file npu-setup reads nests so deep)"),
    };
    let mut depth = 0usize;
    for item in Parser::new_from_str(text) {
        match item {
            Ok((Event::SequenceStart(..) | Event::MappingStart(..), span)) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(too_deep(span.start.line(), span.start.col() + 1));
                }
            }
            Ok((Event::SequenceEnd | Event::MappingEnd, _)) => depth = depth.saturating_sub(1),
            Ok(_) => {}
            Err(e) => {
                let (line, column) = (e.marker().line(), e.marker().col() + 1);
                // saphyr-parser stops deep flow collections itself (at 256 levels).
                if e.info().contains("recursion limit") {
                    return Err(too_deep(line, column));
                }
                return Err(YamlError { line, column, message: e.info().to_string() });
            }
        }
    }
    Ok(())
}

/// Deserializes a YAML document after [`check_depth`]. serde_yaml's message loses its
/// repeated ` at line … column …` tail; the location is in the error's fields.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    check_depth(text)?;
    serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        let message = e.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message).to_string();
        YamlError { line, column, message }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Nesting bombs in every style: refused with a location, in far under a second (they
    /// took seconds to minutes in serde_yaml).
    #[test]
    fn deep_nesting_is_refused_fast() {
        let block_map: String = (0..200).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
        let bombs = [
            ("[".repeat(200_000) + &"]".repeat(200_000), 1),
            ("{a: ".repeat(100_000) + "1" + &"}".repeat(100_000), 1),
            ("[".repeat(200_000), 1),
            ("x: ".to_string() + &"[{a: ".repeat(50_000), 1),
            ("- ".repeat(100_000) + "x\n", 1),
            (block_map, 65),
        ];
        for (text, line) in &bombs {
            let started = Instant::now();
            let err = check_depth(text).unwrap_err();
            assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
            assert!(err.message.contains("nested more than 64 levels"), "{err}");
            assert_eq!(err.line, *line, "{err}");
            assert!(err.column > 0, "{err}");
            assert!(from_str::<serde_yaml::Value>(text).is_err());
        }
    }

    #[test]
    fn ordinary_documents_pass_and_errors_are_located() {
        let ok = [
            "",
            "a: 1\n",
            "rules:\n  - key: amd_iommu\n    value: \"off\"\n    list: [a, [b, {c: d}]]\n",
            "text: |\n  [[[[ not a flow\n  \"quoted\n",
            &("[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH)),
            "s: 'it''s [' # [[[[\n",
        ];
        for text in ok {
            check_depth(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        }
        let deeper = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(check_depth(&deeper).is_err());
        let err = from_str::<std::collections::BTreeMap<String, u32>>("a: 1\nb: x\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 4), "{err}");
        assert_eq!(err.located(), format!(":2:4: {}", err.message));
        assert!(!err.message.contains(" at line "), "{err}");
        let err = check_depth("a: [1,\nb: }\n").unwrap_err();
        assert!(err.line >= 1 && !err.message.is_empty(), "{err}");
    }
}
