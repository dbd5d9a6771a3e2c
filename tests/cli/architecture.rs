//! The module graph guard (ARCHITECTURE.md §Data flow): the top-level modules of `src/`
//! reference each other (`crate::x`) without cycles, and the layering the data flow relies on
//! holds — probes never reach for steps, checks or reports; knowledge never runs a command;
//! steps never run the check engine; renderers take data only.
//!
//! The graph is read from the source text, the way a reviewer would: every `crate::name`
//! path and every name inside `use crate::{…}` groups, comments and string literals excluded.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Top-level module of each `.rs` file under `src/` (`src/host/mod.rs` → `host`).
fn modules(src: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(src).unwrap();
                let top =
                    rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
                out.insert(p.clone(), top);
            }
        }
    }
    out
}

/// Source text with comments and string/char literals blanked, so a path inside a doc
/// comment or a message does not count as a reference.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i += 2;
            while i < b.len() && !b[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' || (b[i] == b'r' && b.get(i + 1).is_some_and(|c| *c == b'"' || *c == b'#')) {
            // (raw) string literal
            let mut hashes = 0;
            if b[i] == b'r' {
                i += 1;
                while b[i] == b'#' {
                    hashes += 1;
                    i += 1;
                }
            }
            i += 1;
            while i < b.len() {
                if hashes == 0 && b[i] == b'\\' {
                    i += 2;
                    continue;
                }
                if b[i] == b'"' && b[i + 1..].iter().take(hashes).filter(|c| **c == b'#').count() == hashes {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
            out.push(' ');
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            i += 3;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Top-level modules a file references through `crate::`.
fn references(code: &str, tops: &BTreeSet<String>) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            // use crate::{a, b::c, d::{e, f}} — the first segment of each top-level item.
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        rest = &group[i..];
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') => {
                        let name: String =
                            group[i..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                        if tops.contains(&name) {
                            refs.insert(name);
                        }
                        item_start = false;
                    }
                    _ => {}
                }
            }
            rest = &rest[1..];
        } else {
            let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if tops.contains(&name) {
                refs.insert(name);
            }
            rest = after;
        }
    }
    refs
}

/// The graph of top-level modules: module → the modules it references.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = modules(&src);
    let tops: BTreeSet<String> = files.values().filter(|t| *t != "lib" && *t != "main").cloned().collect();
    let mut g: BTreeMap<String, BTreeSet<String>> = tops.iter().map(|t| (t.clone(), BTreeSet::new())).collect();
    for (path, top) in &files {
        if !tops.contains(top) {
            continue;
        }
        let code = code_only(&fs::read_to_string(path).unwrap());
        for r in references(&code, &tops) {
            if &r != top {
                g.get_mut(top).unwrap().insert(r);
            }
        }
    }
    g
}

/// A cycle through `start`, if any (depth-first search).
fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        n: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(pos) = path.iter().position(|p| p == n) {
            let mut c = path[pos..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(g, m, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for n in g.keys() {
        if let Some(c) = visit(g, n, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn top_level_modules_form_no_cycle() {
    let g = graph();
    assert!(g.len() > 10, "the graph reader found too few modules: {g:?}");
    if let Some(c) = cycle(&g) {
        panic!("import cycle between top-level modules: {}\nwhole graph: {g:#?}", c.join(" -> "));
    }
}

#[test]
fn the_layers_point_one_way() {
    let g = graph();
    // (module, modules it must never reference, why)
    let rules: &[(&str, &[&str], &str)] = &[
        ("host", &["checks", "knowledge", "steps", "report", "commands", "cli"], "probes only read the host"),
        ("knowledge", &["runner", "checks", "steps", "report", "commands", "cli", "net"], "judgements are pure"),
        ("checks", &["steps", "runner", "commands", "cli", "report"], "checks judge facts"),
        ("steps", &["checks", "commands", "report"], "steps ask knowledge, never the check engine"),
        ("report", &["checks", "host", "commands", "cli", "root", "state"], "renderers take data"),
        ("model", &["host", "checks", "knowledge", "steps", "report", "commands", "cli"], "the contract is data"),
        ("root", &["host", "runner", "steps", "state"], "the root is the bottom of the I/O stack"),
    ];
    let mut broken = Vec::new();
    for (m, never, why) in rules {
        let Some(refs) = g.get(*m) else { continue };
        for n in *never {
            if refs.contains(*n) {
                broken.push(format!("{m} -> {n} ({why})"));
            }
        }
    }
    assert!(broken.is_empty(), "layering broken:\n  {}", broken.join("\n  "));
}

#[test]
fn the_reader_sees_grouped_and_plain_paths_but_not_comments_or_strings() {
    let tops: BTreeSet<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
    let code = code_only(
        "use crate::{a::X, b::{Y, Z}};\n// crate::c in a comment\nlet s = \"crate::c\";\nfn f() { crate::d::g(); }\n",
    );
    assert_eq!(references(&code, &tops), ["a", "b", "d"].iter().map(|s| s.to_string()).collect());
}
