//! Editing one kernel command line string: remove the arguments we own, append the ones we
//! need, and leave every other byte alone.
//!
//! Tokenising is the same as [`crate::parse::cmdline::parse_cmdline`] (the kernel's
//! `next_arg()` in `lib/cmdline.c`: whitespace separated, double quotes group), but here we
//! keep each token's byte span so untouched tokens, their quoting and the whitespace between
//! them are copied verbatim. Keys match like the kernel's `parameq()` (`kernel/params.c`):
//! `-` and `_` are equivalent.

use crate::parse::cmdline::{Karg, parse_cmdline};
use serde::Serialize;

/// What to change on a kernel command line. Entries are `key=value` or a bare `key`
/// (double quotes allowed, as on the command line: `foo="a b"`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct KargEdit {
    /// `key=value`: drop every occurrence of `key` whose value is `value`, also as one element
    /// of a comma list (`amd_iommu=off,fullflush` → `amd_iommu=fullflush`). Bare `key`: drop
    /// every occurrence of `key`, whatever its value.
    pub remove: Vec<String>,
    /// Append each entry unless the command line already ends up with exactly that value.
    /// If the key is present with another value it is left alone and reported as a conflict.
    pub add: Vec<String>,
}

/// Outcome of an edit: the new text and what happened to it.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct EditResult {
    /// The edited text (identical to the input when `changed` is false).
    pub text: String,
    /// True when `text` differs from the input.
    pub changed: bool,
    /// Arguments (or comma-list elements, written `key=element`) that were removed.
    pub removed: Vec<String>,
    /// Arguments that were appended.
    pub added: Vec<String>,
    /// `add` entries that were not applied because the key already has another value
    /// (we never overwrite a value we do not own).
    pub conflicts: Vec<String>,
}

impl EditResult {
    /// An unchanged result for `text`.
    pub(crate) fn unchanged(text: &str) -> Self {
        EditResult { text: text.to_string(), ..Default::default() }
    }

    /// Append another result's reports (not its text) to this one.
    pub(crate) fn absorb_reports(&mut self, other: EditResult) {
        self.removed.extend(other.removed);
        self.added.extend(other.added);
        self.conflicts.extend(other.conflicts);
    }
}

impl KargEdit {
    /// An edit that only appends `add`.
    pub fn add_only(add: Vec<String>) -> KargEdit {
        KargEdit { remove: Vec::new(), add }
    }

    /// Builds an edit from string slices (the editors' test tables).
    #[cfg(test)]
    pub(crate) fn of(remove: &[&str], add: &[&str]) -> KargEdit {
        KargEdit {
            remove: remove.iter().map(|s| s.to_string()).collect(),
            add: add.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The same edit without any `add` entries (used for layers that only get removals).
    pub fn removals_only(&self) -> KargEdit {
        KargEdit { remove: self.remove.clone(), add: Vec::new() }
    }

    /// True when the edit asks for nothing.
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.add.is_empty()
    }
}

/// Compare two parameter names like the kernel's `parameq()` (`kernel/params.c`): `-` == `_`.
pub(crate) fn key_eq(a: &str, b: &str) -> bool {
    let norm = |c: char| if c == '-' { '_' } else { c };
    a.chars().map(norm).eq(b.chars().map(norm))
}

/// Parse `remove`/`add` entries into arguments. An entry that holds several arguments
/// (`"a b"` unquoted) counts as several; an empty one counts as none.
fn parse_entries(entries: &[String]) -> Vec<Karg> {
    entries.iter().flat_map(|e| parse_cmdline(e).args).collect()
}

/// Byte spans of the whitespace-separated tokens of `line`, tokenised exactly like
/// `parse_cmdline` (an unterminated quote runs to the end of the string).
fn token_spans(line: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start: Option<usize> = None;
    let mut in_quote = false;
    for (i, c) in line.char_indices() {
        if c == '"' {
            in_quote = !in_quote;
            start.get_or_insert(i);
        } else if c.is_whitespace() && !in_quote {
            if let Some(s) = start.take() {
                spans.push((s, i));
            }
        } else {
            start.get_or_insert(i);
        }
    }
    if let Some(s) = start {
        spans.push((s, line.len()));
    }
    spans
}

/// What removal does to one token.
enum TokenFate {
    Keep,
    Drop,
    Rewrite(String),
}

/// Apply the removal rules to one parsed token; records what was removed.
fn apply_removals(arg: &Karg, raw: &str, removes: &[Karg], removed: &mut Vec<String>) -> TokenFate {
    // Every occurrence goes, not just the effective one: `amd_iommu=` is a `__setup` handler,
    // which the kernel calls for each occurrence (init/main.c obsolete_checksetup), so one
    // leftover `off` anywhere on the line still disables the IOMMU.
    let mut value = arg.value.clone();
    for r in removes.iter().filter(|r| key_eq(&r.key, &arg.key)) {
        let Some(want) = r.value.as_deref() else {
            removed.push(raw.to_string());
            return TokenFate::Drop;
        };
        let Some(cur) = value.as_deref() else { continue };
        if cur == want {
            if value == arg.value {
                removed.push(raw.to_string());
            } else {
                removed.push(format!("{}={want}", arg.key));
            }
            return TokenFate::Drop;
        }
        // AMD IOMMU options (like the other x86 IOMMU options) are a comma list: the kernel
        // walks it with strcspn(str, ",") and skips repeated commas (drivers/iommu/amd/init.c
        // parse_amd_iommu_options), so `off` inside a list disables the IOMMU too.
        if !cur.contains(',') {
            continue;
        }
        let elems: Vec<&str> = cur.split(',').collect();
        if !elems.contains(&want) {
            continue;
        }
        removed.push(format!("{}={want}", arg.key));
        // Empty elements mean nothing to the kernel; once we rewrite the list, drop them.
        let rest: Vec<&str> = elems.into_iter().filter(|e| *e != want && !e.is_empty()).collect();
        if rest.is_empty() {
            return TokenFate::Drop;
        }
        value = Some(rest.join(","));
    }
    if value == arg.value {
        TokenFate::Keep
    } else {
        TokenFate::Rewrite(Karg { key: arg.key.clone(), value }.to_string())
    }
}

/// Decide which `add` entries to append to a command line whose arguments are `present`.
/// Kernel semantics for repeated parameters: the last occurrence wins
/// (`parse_args` assigns in order, <https://github.com/torvalds/linux/blob/v7.0/kernel/params.c>; seen in
/// <https://github.com/noamsto/nix-amd-ai/issues/49>).
pub(crate) fn plan_additions(present: &[Karg], adds: &[Karg]) -> (Vec<String>, Vec<String>) {
    let mut added: Vec<String> = Vec::new();
    let mut conflicts = Vec::new();
    let mut seen: Vec<Karg> = present.to_vec();
    for want in adds {
        match seen.iter().rev().find(|a| key_eq(&a.key, &want.key)) {
            Some(have) if have.value == want.value => {}
            Some(have) => conflicts.push(format!("{want} not added: {have} is already set")),
            None => {
                added.push(want.to_string());
                seen.push(want.clone());
            }
        }
    }
    (added, conflicts)
}

/// Apply `e` to one kernel command line. Never panics; `changed` is false and `text` equals
/// `line` when there is nothing to do. Untouched tokens and the whitespace between them are
/// kept byte for byte; a removed token takes the whitespace before it along (or after it,
/// for the first token), so no double or leading spaces appear. Appended arguments are
/// separated by one space and go before any trailing whitespace (e.g. a newline).
pub fn edit_cmdline(line: &str, e: &KargEdit) -> EditResult {
    let removes = parse_entries(&e.remove);
    let adds = parse_entries(&e.add);
    let spans = token_spans(line);

    let mut removed = Vec::new();
    // Kept tokens: (gap before it in the original, text to write).
    let mut kept: Vec<(&str, String)> = Vec::new();
    let mut kept_args: Vec<Karg> = Vec::new();
    let mut prev_end: Option<usize> = None;
    for &(s, t) in &spans {
        let raw = &line[s..t];
        let gap = prev_end.map_or("", |p| &line[p..s]);
        prev_end = Some(t);
        let arg = parse_cmdline(raw).args.into_iter().next().unwrap_or_default();
        match apply_removals(&arg, raw, &removes, &mut removed) {
            TokenFate::Keep => {
                kept.push((gap, raw.to_string()));
                kept_args.push(arg);
            }
            TokenFate::Drop => {}
            TokenFate::Rewrite(new) => {
                kept_args.push(parse_cmdline(&new).args.into_iter().next().unwrap_or_default());
                kept.push((gap, new));
            }
        }
    }
    let (mut added, mut conflicts) = plan_additions(&kept_args, &adds);
    // An unterminated quote runs to the end of the line (lib/cmdline.c next_arg), so anything
    // appended would become part of that argument: refuse to add rather than corrupt it.
    if kept.iter().map(|(_, tok)| tok.matches('"').count()).sum::<usize>() % 2 == 1 {
        conflicts.extend(added.drain(..).map(|a| format!("{a} not added: the line has an unterminated quote")));
    }

    let (pre, post) = match (spans.first(), spans.last()) {
        (Some(&(first, _)), Some(&(_, last))) => (&line[..first], &line[last..]),
        _ => ("", line),
    };
    let mut body = String::new();
    for (i, (gap, tok)) in kept.iter().enumerate() {
        if i > 0 {
            body.push_str(gap);
        }
        body.push_str(tok);
    }
    for a in &added {
        if !body.is_empty() {
            body.push(' ');
        }
        body.push_str(a);
    }
    let text = if kept.is_empty() {
        // Nothing of the original survived: no leading blanks, and no trailing blanks in
        // front of the line end.
        let post = post.trim_start_matches([' ', '\t']);
        format!("{body}{post}")
    } else {
        format!("{pre}{body}{post}")
    };
    let changed = text != line;
    EditResult { text, changed, removed, added, conflicts }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEDORA: &str = "BOOT_IMAGE=(hd0,gpt2)/vmlinuz-7.1.8-200.fc44.x86_64 \
        root=UUID=4d6c1a5e-8f0b-4b8e-9a55-1c2d3e4f5a6b ro rootflags=subvol=root amd_iommu=off rhgb quiet";
    const CASE19: &str = "init=/nix/store/x/init module.sig_enforce=1 lockdown=confidentiality intel_iommu=on \
        iommu.passthrough=1 iommu.passthrough=0 rd.shell=0 amdgpu.ppfeaturemask=0xffffffff iommu=pt \
        iommu.passthrough=1";

    /// (input, remove, add, expected text, removed, added, conflicts)
    #[allow(clippy::type_complexity)]
    const CASES: &[(&str, &[&str], &[&str], &str, &[&str], &[&str], &[&str])] = &[
        // Fedora /proc/cmdline with amd_iommu=off (the setting
        // https://github.com/lemonade-sdk/lemonade/blob/e385039ed33551de7f54cb73194cd08088772c08/docs/flm_npu_linux.html
        // warns about).
        (
            FEDORA,
            &["amd_iommu=off", "amd_iommu=pt"],
            &[],
            "BOOT_IMAGE=(hd0,gpt2)/vmlinuz-7.1.8-200.fc44.x86_64 \
             root=UUID=4d6c1a5e-8f0b-4b8e-9a55-1c2d3e4f5a6b ro rootflags=subvol=root rhgb quiet",
            &["amd_iommu=off"],
            &[],
            &[],
        ),
        // Ubuntu GRUB_CMDLINE_LINUX_DEFAULT value.
        ("quiet splash amd_iommu=off", &["amd_iommu=off"], &[], "quiet splash", &["amd_iommu=off"], &[], &[]),
        ("amd_iommu=off quiet splash", &["amd_iommu=off"], &[], "quiet splash", &["amd_iommu=off"], &[], &[]),
        ("amd_iommu=off", &["amd_iommu=off"], &[], "", &["amd_iommu=off"], &[], &[]),
        ("amd_iommu=off\n", &["amd_iommu=off"], &[], "\n", &["amd_iommu=off"], &[], &[]),
        ("  quiet amd_iommu=off\n", &["amd_iommu=off"], &[], "  quiet\n", &["amd_iommu=off"], &[], &[]),
        // Whitespace elsewhere is kept; the gap before a removed token goes with it.
        ("ro\tquiet  amd_iommu=off  rhgb", &["amd_iommu=off"], &[], "ro\tquiet  rhgb", &["amd_iommu=off"], &[], &[]),
        // Dash/underscore equivalence (parameq), every occurrence.
        (
            "amd-iommu=off quiet amd_iommu=off",
            &["amd_iommu=off"],
            &[],
            "quiet",
            &["amd-iommu=off", "amd_iommu=off"],
            &[],
            &[],
        ),
        // Comma lists (parse_amd_iommu_options).
        (
            "quiet amd_iommu=off,fullflush rhgb",
            &["amd_iommu=off"],
            &[],
            "quiet amd_iommu=fullflush rhgb",
            &["amd_iommu=off"],
            &[],
            &[],
        ),
        ("amd_iommu=fullflush,off", &["amd_iommu=off"], &[], "amd_iommu=fullflush", &["amd_iommu=off"], &[], &[]),
        ("a amd_iommu=off,off b", &["amd_iommu=off"], &[], "a b", &["amd_iommu=off"], &[], &[]),
        (
            "amd_iommu=off,pt,force_isolation",
            &["amd_iommu=off", "amd_iommu=pt"],
            &[],
            "amd_iommu=force_isolation",
            &["amd_iommu=off", "amd_iommu=pt"],
            &[],
            &[],
        ),
        ("amd_iommu=off,,fullflush", &["amd_iommu=off"], &[], "amd_iommu=fullflush", &["amd_iommu=off"], &[], &[]),
        // Only the exact value is ours.
        (
            "amd_iommu=force_isolation amd_iommu=offx",
            &["amd_iommu=off"],
            &[],
            "amd_iommu=force_isolation amd_iommu=offx",
            &[],
            &[],
            &[],
        ),
        ("iommu=off amd_iommu", &["amd_iommu=off"], &[], "iommu=off amd_iommu", &[], &[], &[]),
        // Bare remove key: any value, and the bare flag.
        ("a amd_iommu=pt b amd_iommu c", &["amd_iommu"], &[], "a b c", &["amd_iommu=pt", "amd_iommu"], &[], &[]),
        // Quoted values: ours removed, others kept verbatim.
        (
            "foo=\"a b\" amd_iommu=\"off\" bar=\"x\"",
            &["amd_iommu=off"],
            &[],
            "foo=\"a b\" bar=\"x\"",
            &["amd_iommu=\"off\""],
            &[],
            &[],
        ),
        (
            "\"amd_iommu=off\" dyndbg=\"file x.c +p\"",
            &["amd_iommu"],
            &[],
            "dyndbg=\"file x.c +p\"",
            &["\"amd_iommu=off\""],
            &[],
            &[],
        ),
        // NixOS Case 19: nothing of ours; repeated keys untouched.
        (CASE19, &["amd_iommu=off", "amd_iommu=pt"], &[], CASE19, &[], &[], &[]),
        // add: appended once, not when present, conflict when another value is effective.
        ("quiet", &[], &["iommu=pt"], "quiet iommu=pt", &[], &["iommu=pt"], &[]),
        ("quiet\n", &[], &["a=1", "b"], "quiet a=1 b\n", &[], &["a=1", "b"], &[]),
        ("", &[], &["a=1"], "a=1", &[], &["a=1"], &[]),
        ("\n", &[], &["a=1"], "a=1\n", &[], &["a=1"], &[]),
        ("quiet iommu=pt", &[], &["iommu=pt"], "quiet iommu=pt", &[], &[], &[]),
        ("quiet iommu-x=1", &[], &["iommu_x=1"], "quiet iommu-x=1", &[], &[], &[]),
        (
            "quiet iommu=nopt",
            &[],
            &["iommu=pt"],
            "quiet iommu=nopt",
            &[],
            &[],
            &["iommu=pt not added: iommu=nopt is already set"],
        ),
        (
            CASE19,
            &[],
            &["iommu.passthrough=0"],
            CASE19,
            &[],
            &[],
            &["iommu.passthrough=0 not added: iommu.passthrough=1 is already set"],
        ),
        ("x=2 x=1", &[], &["x=1"], "x=2 x=1", &[], &[], &[]),
        ("a", &[], &["d=\"p q\"", "d=\"p q\""], "a d=\"p q\"", &[], &["d=\"p q\""], &[]),
        // Remove and add together: removal happens first.
        (
            "quiet amd_iommu=off",
            &["amd_iommu=off"],
            &["amd_iommu=force_isolation"],
            "quiet amd_iommu=force_isolation",
            &["amd_iommu=off"],
            &["amd_iommu=force_isolation"],
            &[],
        ),
        (
            "amd_iommu=off,fullflush",
            &["amd_iommu=off"],
            &["amd_iommu=force_isolation"],
            "amd_iommu=fullflush",
            &["amd_iommu=off"],
            &[],
            &["amd_iommu=force_isolation not added: amd_iommu=fullflush is already set"],
        ),
    ];

    #[test]
    fn table() {
        for (input, remove, add, want, removed, added, conflicts) in CASES {
            let r = edit_cmdline(input, &KargEdit::of(remove, add));
            assert_eq!(r.text, *want, "input {input:?}");
            assert_eq!(r.changed, input != want, "input {input:?}");
            assert_eq!(r.removed, *removed, "input {input:?}");
            assert_eq!(r.added, *added, "input {input:?}");
            assert_eq!(r.conflicts, *conflicts, "input {input:?}");
        }
    }

    #[test]
    fn idempotent() {
        for (input, remove, add, ..) in CASES {
            let e = KargEdit::of(remove, add);
            let once = edit_cmdline(input, &e);
            let twice = edit_cmdline(&once.text, &e);
            assert_eq!(twice.text, once.text, "input {input:?}");
            assert!(!twice.changed, "input {input:?}");
            assert!(twice.removed.is_empty() && twice.added.is_empty(), "input {input:?}");
        }
    }

    #[test]
    fn result_parses_like_expected() {
        let r = edit_cmdline(FEDORA, &KargEdit::of(&["amd_iommu"], &["iommu=pt"]));
        let c = parse_cmdline(&r.text);
        assert!(!c.contains("amd_iommu", None));
        assert_eq!(c.last("iommu").and_then(|a| a.value.as_deref()), Some("pt"));
        assert_eq!(c.args.len(), parse_cmdline(FEDORA).args.len());
    }

    #[test]
    fn token_spans_match_parser() {
        for input in [FEDORA, CASE19, "a \"b c\" d=\"e f\"g  \"h", "", " \t\n", "\"\"", "x\u{a0}y é=ü"] {
            let spans = token_spans(input);
            let from_spans: Vec<Karg> = spans.iter().flat_map(|&(s, t)| parse_cmdline(&input[s..t]).args).collect();
            assert_eq!(from_spans, parse_cmdline(input).args, "input {input:?}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        let inputs = [
            "\"",
            "\"\"\"",
            "=",
            "==",
            "amd_iommu=\"off",
            "\"amd_iommu=off",
            "\u{0}\u{fffd}ÿ=é \"",
            ",,,",
            "amd_iommu=,",
        ];
        let edits = [
            KargEdit::of(&["amd_iommu=off", "=", "\""], &["=", "\"", "a=\"b"]),
            KargEdit::of(&["amd_iommu"], &[""]),
            KargEdit::of(&[], &[]),
        ];
        for input in inputs {
            for e in &edits {
                let r = edit_cmdline(input, e);
                let _ = edit_cmdline(&r.text, e);
            }
        }
        // Nothing is appended after an unterminated quote: it would become part of that value.
        let r = edit_cmdline("quiet foo=\"a b", &KargEdit::of(&[], &["iommu=pt"]));
        assert_eq!((r.text.as_str(), r.changed), ("quiet foo=\"a b", false));
        assert_eq!(r.conflicts, ["iommu=pt not added: the line has an unterminated quote"]);
        // An unterminated quote runs to the end, as in the kernel: the whole token is ours.
        assert_eq!(edit_cmdline("quiet amd_iommu=\"off", &KargEdit::of(&["amd_iommu=off"], &[])).text, "quiet");
        assert_eq!(edit_cmdline("amd_iommu=,", &KargEdit::of(&["amd_iommu="], &[])).text, "");
    }
}
