//! Sets one value in a JSON settings file another program owns (Lemonade's `config.json`),
//! keeping every other byte: the value is replaced in place when the key exists, else a
//! member is added at the end of its object, indented like its siblings. Missing parent
//! objects are added the same way; an empty file becomes a new object. A text that is not a
//! JSON object, or a parent that is not an object, is refused (nothing is guessed).

use anyhow::{Result, bail};
use serde_json::Value;

/// The edited text and whether it changed.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonEdit {
    /// The whole new text.
    pub text: String,
    /// Something changed.
    pub changed: bool,
}

/// One member of an object: its key and the byte spans of the key and the value.
struct Member {
    key: String,
    key_start: usize,
    value_start: usize,
    value_end: usize,
}

/// An object's members and the byte offsets of its braces.
struct Object {
    open: usize,
    close: usize,
    members: Vec<Member>,
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// End (exclusive) of the string starting at `i` (a `"`).
fn scan_string(b: &[u8], mut i: usize) -> Result<usize> {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Ok(i + 1),
            _ => i += 1,
        }
    }
    bail!("unterminated string")
}

/// End (exclusive) of the value starting at `i`.
fn scan_value(b: &[u8], i: usize) -> Result<usize> {
    match b.get(i) {
        Some(b'"') => scan_string(b, i),
        Some(b'{') | Some(b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = scan_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            bail!("unterminated object or array")
        }
        Some(_) => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                j += 1;
            }
            Ok(j)
        }
        None => bail!("unexpected end"),
    }
}

/// The object starting at `open` (a `{`).
fn scan_object(text: &str, open: usize) -> Result<Object> {
    let b = text.as_bytes();
    let mut members = Vec::new();
    let mut i = skip_ws(b, open + 1);
    if b.get(i) == Some(&b'}') {
        return Ok(Object { open, close: i, members });
    }
    loop {
        if b.get(i) != Some(&b'"') {
            bail!("expected a key at byte {i}");
        }
        let key_end = scan_string(b, i)?;
        let key: String = serde_json::from_str(&text[i..key_end])?;
        let colon = skip_ws(b, key_end);
        if b.get(colon) != Some(&b':') {
            bail!("expected `:` at byte {colon}");
        }
        let value_start = skip_ws(b, colon + 1);
        let value_end = scan_value(b, value_start)?;
        members.push(Member { key, key_start: i, value_start, value_end });
        i = skip_ws(b, value_end);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return Ok(Object { open, close: i, members }),
            _ => bail!("expected `,` or `}}` at byte {i}"),
        }
    }
}

/// The whitespace that starts the line holding byte `at`, when only whitespace precedes it.
fn line_indent(text: &str, at: usize) -> Option<&str> {
    let start = text[..at].rfind('\n').map(|n| n + 1)?;
    let lead = &text[start..at];
    lead.chars().all(|c| c == ' ' || c == '\t').then_some(lead)
}

/// `value` as JSON, multi-line values indented to continue at `indent`.
fn render(value: &Value, indent: &str, multiline: bool) -> String {
    if !multiline || !(value.is_object() || value.is_array()) {
        return serde_json::to_string(value).unwrap_or_default();
    }
    let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
    pretty.lines().enumerate().map(|(i, l)| if i == 0 { l.to_string() } else { format!("\n{indent}{l}") }).collect()
}

/// Adds `"key": value` at the end of `obj`.
fn insert(text: &str, obj: &Object, key: &str, value: &Value) -> String {
    let key = serde_json::to_string(key).unwrap_or_default();
    match obj.members.last() {
        Some(last) => match line_indent(text, last.key_start) {
            // One member per line: a new line indented like the last one.
            Some(ind) => format!(
                "{},\n{ind}{key}: {}{}",
                &text[..last.value_end],
                render(value, ind, true),
                &text[last.value_end..]
            ),
            None => {
                format!("{}, {key}: {}{}", &text[..last.value_end], render(value, "", false), &text[last.value_end..])
            }
        },
        None => {
            let outer = line_indent(text, obj.open).unwrap_or("");
            let ind = format!("{outer}  ");
            format!(
                "{}\n{ind}{key}: {}\n{outer}{}",
                &text[..obj.open + 1],
                render(value, &ind, true),
                &text[obj.close..]
            )
        }
    }
}

/// Sets `path` (object keys from the top) to `value` in the JSON object `text`.
pub fn set_json(text: &str, path: &[&str], value: &Value) -> Result<JsonEdit> {
    let Some((last, parents)) = path.split_last() else { bail!("an empty key path") };
    if text.trim().is_empty() {
        let mut v = value.clone();
        for k in path.iter().rev() {
            v = serde_json::json!({ *k: v });
        }
        return Ok(JsonEdit { text: format!("{}\n", serde_json::to_string_pretty(&v)?), changed: true });
    }
    let parsed: Value = serde_json::from_str(text).map_err(|e| anyhow::anyhow!("not valid JSON: {e}"))?;
    if !parsed.is_object() {
        bail!("not a JSON object");
    }
    let mut obj = scan_object(text, skip_ws(text.as_bytes(), 0))?;
    for (depth, k) in parents.iter().enumerate() {
        // The last of duplicate keys wins, as in serde_json and Lemonade's nlohmann::json.
        match obj.members.iter().rev().find(|m| m.key == *k) {
            Some(m) if text.as_bytes()[m.value_start] == b'{' => obj = scan_object(text, m.value_start)?,
            Some(_) => bail!("`{}` is not an object", path[..=depth].join(".")),
            None => {
                let mut v = value.clone();
                for k in path[depth + 1..].iter().rev() {
                    v = serde_json::json!({ *k: v });
                }
                return finish(insert(text, &obj, k, &v), path, value);
            }
        }
    }
    match obj.members.iter().rev().find(|m| m.key == *last) {
        Some(m) => {
            let current: Value = serde_json::from_str(&text[m.value_start..m.value_end])?;
            if current == *value {
                return Ok(JsonEdit { text: text.to_string(), changed: false });
            }
            let new = format!("{}{}{}", &text[..m.value_start], render(value, "", false), &text[m.value_end..]);
            finish(new, path, value)
        }
        None => finish(insert(text, &obj, last, value), path, value),
    }
}

/// The edit parses and holds the value (a guard against a scanner mistake).
fn finish(text: String, path: &[&str], value: &Value) -> Result<JsonEdit> {
    let v: Value = serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("the edit would break the file: {e}"))?;
    let got = path.iter().try_fold(&v, |v, k| v.get(*k));
    if got != Some(value) {
        bail!("the edit did not set {}", path.join("."));
    }
    Ok(JsonEdit { text, changed: true })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(text: &str, path: &[&str], v: Value) -> String {
        set_json(text, path, &v).unwrap().text
    }

    #[test]
    fn replaces_in_place_and_keeps_every_other_byte() {
        let text = "{\n    \"port\": 13305,\n    \"flm\": {\n        \"args\": \"\",\n        \"npu_bin\": \"builtin\",\n        \"prefer_system\": false\n    },\n    \"ctx_size\": -1\n}\n";
        let out = set(text, &["flm", "npu_bin"], json!("/usr/bin/flm"));
        assert_eq!(out, text.replace("\"builtin\"", "\"/usr/bin/flm\""));
        assert!(!set_json(&out, &["flm", "npu_bin"], &json!("/usr/bin/flm")).unwrap().changed);
    }

    #[test]
    fn adds_a_member_indented_like_its_siblings() {
        // Lemonade <= 11.7 writes the full config with 4 spaces (nlohmann dump(4)).
        let text = "{\n    \"flm\": {\n        \"args\": \"\",\n        \"prefer_system\": false\n    },\n    \"port\": 13305\n}";
        let out = set(text, &["flm", "npu_bin"], json!("/opt/fastflowlm/bin/flm"));
        assert_eq!(
            out,
            "{\n    \"flm\": {\n        \"args\": \"\",\n        \"prefer_system\": false,\n        \"npu_bin\": \"/opt/fastflowlm/bin/flm\"\n    },\n    \"port\": 13305\n}"
        );
    }

    #[test]
    fn adds_missing_parents() {
        let text = "{\n  \"port\": 8080\n}\n";
        assert_eq!(
            set(text, &["flm", "npu_bin"], json!("/usr/bin/flm")),
            "{\n  \"port\": 8080,\n  \"flm\": {\n    \"npu_bin\": \"/usr/bin/flm\"\n  }\n}\n"
        );
        assert_eq!(set("{}", &["flm", "npu_bin"], json!("/x")), "{\n  \"flm\": {\n    \"npu_bin\": \"/x\"\n  }\n}");
        assert_eq!(set("{\"a\":1}", &["flm", "npu_bin"], json!("/x")), "{\"a\":1, \"flm\": {\"npu_bin\":\"/x\"}}");
        assert_eq!(set("", &["flm", "npu_bin"], json!("/x")), "{\n  \"flm\": {\n    \"npu_bin\": \"/x\"\n  }\n}\n");
        assert_eq!(set("{\"flm\": {}}", &["flm", "npu_bin"], json!("/x")), "{\"flm\": {\n  \"npu_bin\": \"/x\"\n}}");
    }

    #[test]
    fn strings_with_braces_and_escapes_do_not_confuse_it() {
        let text = r#"{"a": "}{\"", "flm": {"args": "--x \"}\"", "npu_bin": "old"}, "z": [1, {"flm": 2}]}"#;
        let out = set(text, &["flm", "npu_bin"], json!("/new"));
        assert_eq!(out, text.replace("\"old\"", "\"/new\""));
    }

    #[test]
    fn refuses_what_it_cannot_edit_safely() {
        for (text, want) in [
            ("[1]", "not a JSON object"),
            ("{\"flm\": 3}", "`flm` is not an object"),
            ("{\"flm\": ", "not valid JSON"),
            ("{} trailing", "not valid JSON"),
        ] {
            let e = set_json(text, &["flm", "npu_bin"], &json!("/x")).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    /// Every edit of a mix of shapes parses, holds the value, and keeps the other values.
    #[test]
    fn edits_keep_the_rest() {
        let texts = [
            "{\"flm\":{\"prefer_system\":true},\"port\":1}",
            "{ \"x\": [ {\"y\": \"}\"} ], \"flm\" : { } }",
            "{\n\t\"flm\": {\n\t\t\"npu_bin\": null\n\t}\n}\n",
            "{\"flm\": {\"npu_bin\": 1, \"npu_bin\": 2}}",
        ];
        for t in texts {
            let before: Value = serde_json::from_str(t).unwrap();
            let out = set(t, &["flm", "npu_bin"], json!("/usr/bin/flm"));
            let mut after: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(after["flm"]["npu_bin"], json!("/usr/bin/flm"), "{t} -> {out}");
            after["flm"].as_object_mut().unwrap().remove("npu_bin");
            let mut b = before.clone();
            b["flm"].as_object_mut().unwrap().remove("npu_bin");
            assert_eq!(after, b, "{t} -> {out}");
        }
    }
}
