//! Editing the `options` lines of a Boot Loader Specification entry
//! (`/boot/loader/entries/*.conf`), the layer `grubby --update-kernel=ALL` edits on Fedora
//! (grubby-bls `update_bls_fragment`, <https://src.fedoraproject.org/rpms/grubby>).
//!
//! BLS format (uapi-group Boot Loader Specification): one `key value` per line, key and value
//! separated by whitespace, `#` comments; `options` may repeat and the lines are joined with
//! a space. Lines are recognised the same way as in [`crate::parse::bls::parse_bls`].

use super::kargs::{EditResult, KargEdit, edit_cmdline, plan_additions};
use crate::parse::cmdline::parse_cmdline;

/// An `options` line split into its parts, so it can be put back together byte for byte.
struct OptionsLine<'a> {
    /// Leading whitespace, `options`, and the whitespace after it.
    head: &'a str,
    /// The argument string, without trailing whitespace: the parser trims it, and a
    /// trailing blank inside an unterminated quote would change the last argument.
    value: &'a str,
    /// Trailing whitespace, then `\n`, `\r\n` or nothing (last line without newline).
    ending: &'a str,
}

fn split_options_line(line: &str) -> Option<OptionsLine<'_>> {
    let body = line.strip_suffix('\n').unwrap_or(line);
    let body = body.strip_suffix('\r').unwrap_or(body);
    let indent = body.len() - body.trim_start().len();
    let rest = body[indent..].strip_prefix("options")?;
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let sep = rest.len() - rest.trim_start().len();
    let head_len = indent + "options".len() + sep;
    let value = body[head_len..].trim_end();
    Some(OptionsLine { head: &body[..head_len], value, ending: &line[head_len + value.len()..] })
}

/// Rebuild an `options` line with a new value: no dangling separator when the value becomes
/// empty, and a single space added when a bare `options` line gets a value.
fn join_options_line(head: &str, value: &str, ending: &str) -> String {
    if value.is_empty() {
        // Nor trailing blanks in front of the line end.
        let ending = ending.trim_start_matches(|c: char| c.is_whitespace() && c != '\r' && c != '\n');
        format!("{}{ending}", head.trim_end())
    } else if head.ends_with(char::is_whitespace) {
        format!("{head}{value}{ending}")
    } else {
        format!("{head} {value}{ending}")
    }
}

/// Apply `e` to a BLS entry: removals to every `options` line (each line stays separate),
/// additions once, at the end of the last `options` line (a new `options` line is appended
/// if the entry has none). An addition already settled by the joined `options` lines is
/// skipped, or reported as a conflict if the key has another value. All other lines are
/// copied byte for byte. GRUB variables such as `$kernelopts` (older Fedora) are left alone.
pub fn edit_bls_options(text: &str, e: &KargEdit) -> EditResult {
    if let Some(r) = edit_split_by_a_quote(text, e) {
        return r;
    }
    let removals = e.removals_only();
    let mut result = EditResult::unchanged(text);
    // Every line of the entry, with the new value for `options` lines.
    let mut lines: Vec<(&str, Option<(OptionsLine<'_>, String)>)> = Vec::new();
    for line in text.split_inclusive('\n') {
        match split_options_line(line) {
            Some(opt) => {
                let r = edit_cmdline(opt.value, &removals);
                let value = r.text.clone();
                result.absorb_reports(r);
                lines.push((line, Some((opt, value))));
            }
            None => lines.push((line, None)),
        }
    }

    let adds: Vec<_> = e.add.iter().flat_map(|a| parse_cmdline(a).args).collect();
    let mut appended = None;
    if !adds.is_empty() {
        let joined: Vec<&str> = lines.iter().filter_map(|(_, o)| o.as_ref().map(|(_, v)| v.as_str())).collect();
        let (added, conflicts) = plan_additions(&parse_cmdline(&joined.join(" ")).args, &adds);
        result.conflicts.extend(conflicts);
        if !added.is_empty() {
            let add_only = KargEdit::add_only(added.clone());
            match lines.iter_mut().rev().find_map(|(_, o)| o.as_mut()) {
                Some((_, value)) => *value = edit_cmdline(value, &add_only).text,
                None => appended = Some(format!("options {}\n", added.join(" "))),
            }
            result.added.extend(added);
        }
    }

    let mut out = String::with_capacity(text.len() + 32);
    for (line, opt) in &lines {
        match opt {
            Some((o, value)) if value != o.value => out.push_str(&join_options_line(o.head, value, o.ending)),
            _ => out.push_str(line),
        }
    }
    if let Some(line) = appended {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&line);
    }
    result.changed = out != text;
    result.text = out;
    result
}

/// The `options` value as [`crate::parse::bls::parse_bls`] reads it (trimmed).
fn parsed_value<'a>(o: &OptionsLine<'a>) -> &'a str {
    o.value.trim()
}

/// Boot loaders join the `options` lines with a space before splitting arguments, so an
/// unbalanced `"` on one line carries into the next (`options foo="a` + `options b"
/// amd_iommu=off` is `foo="a b"` and `amd_iommu=off`). Edited line by line, such an entry
/// looked clean to install while doctor, which joins, kept warning. When the quote state is
/// open at the end of any `options` line but the last, the joined value is edited as one
/// and written back as a single `options` line in place of the first (the others go); a
/// join changes no argument. `None` when the lines are quote-balanced (the per-line edit is
/// then the same as the joined one).
fn edit_split_by_a_quote(text: &str, e: &KargEdit) -> Option<EditResult> {
    let lines: Vec<(&str, Option<OptionsLine<'_>>)> =
        text.split_inclusive('\n').map(|l| (l, split_options_line(l))).collect();
    let values: Vec<&str> = lines.iter().filter_map(|(_, o)| o.as_ref().map(parsed_value)).collect();
    let mut open = false;
    let mut split = false;
    for (i, v) in values.iter().enumerate() {
        open ^= v.matches('"').count() % 2 == 1;
        if open && values[i + 1..].iter().any(|v| !v.is_empty()) {
            split = true;
            break;
        }
    }
    if !split {
        return None;
    }
    let joined: Vec<&str> = values.into_iter().filter(|v| !v.is_empty()).collect();
    let joined = joined.join(" ");
    let mut r = edit_cmdline(&joined, e);
    if !r.changed {
        r.text = text.to_string();
        return Some(r);
    }
    let mut out = String::with_capacity(text.len());
    let mut first = true;
    for (line, o) in &lines {
        match o {
            Some(o) if first => {
                first = false;
                out.push_str(&join_options_line(o.head, &r.text, o.ending));
            }
            Some(_) => {}
            None => out.push_str(line),
        }
    }
    r.changed = out != text;
    r.text = out;
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Fedora 44 entry as written by kernel-install + grubby.
    const FEDORA: &str = "title Fedora Linux (7.1.8-200.fc44.x86_64) 44 (Workstation Edition)\n\
        version 7.1.8-200.fc44.x86_64\n\
        linux /vmlinuz-7.1.8-200.fc44.x86_64\n\
        initrd /initramfs-7.1.8-200.fc44.x86_64.img\n\
        options root=UUID=4d6c1a5e-8f0b-4b8e-9a55-1c2d3e4f5a6b ro rootflags=subvol=root amd_iommu=off rhgb quiet\n\
        grub_users $grub_users\n\
        grub_arg --unrestricted\n\
        grub_class fedora\n";

    #[test]
    fn fedora_entry() {
        let e = KargEdit::of(&["amd_iommu=off", "amd_iommu=pt"], &[]);
        let r = edit_bls_options(FEDORA, &e);
        assert_eq!(r.text, FEDORA.replace(" amd_iommu=off", ""));
        assert!(r.changed);
        assert_eq!(r.removed, ["amd_iommu=off"]);
        let parsed = crate::parse::bls::parse_bls(&r.text);
        assert_eq!(
            parsed.options.as_deref(),
            Some("root=UUID=4d6c1a5e-8f0b-4b8e-9a55-1c2d3e4f5a6b ro rootflags=subvol=root rhgb quiet")
        );
        assert_eq!(parsed.other, crate::parse::bls::parse_bls(FEDORA).other);
    }

    /// (input, remove, add, expected)
    #[allow(clippy::type_complexity)]
    const CASES: &[(&str, &[&str], &[&str], &str)] = &[
        (FEDORA, &["amd_iommu=pt"], &[], FEDORA),
        ("", &["amd_iommu"], &[], ""),
        // Several options lines stay separate; each is edited.
        (
            "linux /vmlinuz\noptions root=/dev/sda1 amd_iommu=off\noptions amd_iommu=off,fullflush quiet\n",
            &["amd_iommu=off"],
            &["iommu=pt"],
            "linux /vmlinuz\noptions root=/dev/sda1\noptions amd_iommu=fullflush quiet iommu=pt\n",
        ),
        // Already set on an earlier line: nothing added.
        ("options iommu=pt\noptions quiet\n", &[], &["iommu=pt"], "options iommu=pt\noptions quiet\n"),
        // A line that becomes empty keeps its key and line ending, without a trailing space.
        ("options\tamd_iommu=off\r\ntitle x\r\n", &["amd_iommu"], &[], "options\r\ntitle x\r\n"),
        ("options", &[], &["quiet"], "options quiet"),
        // No options line: one is appended.
        ("title x\nlinux /vmlinuz", &[], &["quiet"], "title x\nlinux /vmlinuz\noptions quiet\n"),
        // Indentation, GRUB variables and look-alike keys are left alone.
        (
            "  options $kernelopts amd_iommu=off\noptionsx amd_iommu=off\n# options amd_iommu=off\n",
            &["amd_iommu=off"],
            &[],
            "  options $kernelopts\noptionsx amd_iommu=off\n# options amd_iommu=off\n",
        ),
        // No trailing newline on the last line.
        ("options quiet amd_iommu=off", &["amd_iommu=off"], &[], "options quiet"),
    ];

    #[test]
    fn table_and_idempotence() {
        for (input, remove, add, want) in CASES {
            let e = KargEdit::of(remove, add);
            let r = edit_bls_options(input, &e);
            assert_eq!(r.text, *want, "input {input:?}");
            assert_eq!(r.changed, input != want, "input {input:?}");
            let again = edit_bls_options(&r.text, &e);
            assert!(!again.changed, "not idempotent: {input:?}");
        }
    }

    /// Doctor's view of an entry after the edit: what the parser joins, as install's
    /// removals see it. The property every edit keeps (and a fuzz target can check): after
    /// install's edit of any text, doctor finds nothing left to remove.
    fn doctor_agrees(input: &str, e: &KargEdit) {
        let r = edit_bls_options(input, e);
        let joined = crate::parse::bls::parse_bls(&r.text).options.unwrap_or_default();
        let left = edit_cmdline(&joined, &e.removals_only());
        assert!(!left.changed, "{input:?} -> {:?}: doctor still sees {:?}", r.text, left.removed);
        assert!(!edit_bls_options(&r.text, e).changed, "not idempotent: {input:?} -> {:?}", r.text);
    }

    /// A BLS `options` line split by an unbalanced quote: install said converged while
    /// doctor kept warning (the editor worked per line, the parser joins lines).
    #[test]
    fn options_split_by_an_unbalanced_quote_are_edited_as_doctor_reads_them() {
        let e = KargEdit::of(&["amd_iommu=off"], &[]);
        let text = "title x\noptions root=/dev/sda1 dyndbg=\"file a.c\n# note\noptions +p\" amd_iommu=off quiet\nlinux /vmlinuz\n";
        let r = edit_bls_options(text, &e);
        assert!(r.changed, "{r:?}");
        assert_eq!(r.removed, ["amd_iommu=off"]);
        assert_eq!(r.text, "title x\noptions root=/dev/sda1 dyndbg=\"file a.c +p\" quiet\n# note\nlinux /vmlinuz\n");
        doctor_agrees(text, &e);
        // The quote swallows what follows: `b" amd_iommu=off` on the next line is inside it
        // for doctor too, so there is nothing to remove and nothing is merged.
        let text = "options a=\"x\noptions amd_iommu=off\n";
        let r = edit_bls_options(text, &e);
        assert_eq!((r.text.as_str(), r.changed), (text, false));
        doctor_agrees(text, &e);
        // Balanced lines stay separate.
        let text = "options a=\"x y\"\noptions amd_iommu=off\n";
        assert_eq!(edit_bls_options(text, &e).text, "options a=\"x y\"\noptions\n");
    }

    /// Random entries, line by line from troublesome parts: install's edit always leaves
    /// doctor nothing to remove.
    #[test]
    fn doctor_agrees_on_random_entries() {
        let heads = ["options ", "options\t", "  options ", "options", "title t ", "# ", "optionsx "];
        let tokens = [
            "amd_iommu=off",
            "amd_iommu=off,fullflush",
            "quiet",
            "a=\"b",
            "c\"",
            "\"",
            "x=\"y z\"",
            "amd_iommu=\"off",
            "\"amd_iommu=off\"",
            "",
            "é",
        ];
        let endings = ["\n", "\r\n", " \n"];
        let edits = [KargEdit::of(&["amd_iommu=off"], &[]), KargEdit::of(&["amd_iommu=off"], &["iommu=pt"])];
        let mut seed: u64 = 0xb15;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        let mut merged = 0;
        for _ in 0..5000 {
            let mut s = String::new();
            for _ in 0..next() % 5 + 1 {
                s.push_str(heads[next() % heads.len()]);
                let words: Vec<&str> = (0..next() % 4).map(|_| tokens[next() % tokens.len()]).collect();
                s.push_str(&words.join(" "));
                s.push_str(endings[next() % endings.len()]);
            }
            merged += usize::from(edit_split_by_a_quote(&s, &edits[0]).is_some_and(|r| r.changed));
            for e in &edits {
                doctor_agrees(&s, e);
            }
        }
        assert!(merged > 50, "the generator reaches split entries ({merged})");
    }

    #[test]
    fn conflict() {
        let r = edit_bls_options("options iommu=nopt\n", &KargEdit::of(&[], &["iommu=pt"]));
        assert!(!r.changed);
        assert_eq!(r.conflicts, ["iommu=pt not added: iommu=nopt is already set"]);
    }

    #[test]
    fn garbage_never_panics() {
        let e = KargEdit::of(&["amd_iommu=off", "\""], &["a=\"b"]);
        for input in
            ["\"", "options \"", "options amd_iommu=\"off\n", "options\u{a0}x", "\r", "\n\n\r\n", "\u{0}\u{fffd}é"]
        {
            let r = edit_bls_options(input, &e);
            let _ = edit_bls_options(&r.text, &e);
        }
    }
}
