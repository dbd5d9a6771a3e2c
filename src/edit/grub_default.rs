//! Editing kernel arguments in `/etc/default/grub` and `/etc/default/grub.d/*.cfg`.
//!
//! grub2's `10_linux` builds each normal entry's command line from
//! `${GRUB_CMDLINE_LINUX} ${GRUB_CMDLINE_LINUX_DEFAULT}` (recovery entries use only
//! `GRUB_CMDLINE_LINUX`), and `grub2-mkconfig`/`update-grub` source these files as POSIX
//! shell; Debian/Ubuntu's `grub-mkconfig` also sources `/etc/default/grub.d/*.cfg` after the
//! main file (GRUB_CMDLINE_*: <https://www.gnu.org/software/grub/manual/grub/html_node/Simple-configuration.html>;
//! grub.d: the `for x in ${sysconfdir}/default/grub.d/*.cfg` loop of Debian's /usr/sbin/grub-mkconfig, UNVERIFIED
//! against a pinned source file). So removals go to both variables, and additions go
//! to `GRUB_CMDLINE_LINUX` only, so recovery entries get them too.
//!
//! The file is validated with [`parse_shell_vars`] first; we never edit a file it rejects.
//! Only the value word of the assignments we change is rewritten; everything else (comments,
//! blank lines, other variables, trailing comments, `export`) is copied byte for byte.

use super::kargs::{EditResult, KargEdit, edit_cmdline, plan_additions};
use crate::parse::cmdline::parse_cmdline;
use crate::parse::shellvars::{parse_shell_assignments, parse_shell_vars};

/// Variable read by grub2 `10_linux` for every entry (normal and recovery).
const LINUX: &str = "GRUB_CMDLINE_LINUX";
/// Variable read by grub2 `10_linux` for normal (non-recovery) entries only.
const LINUX_DEFAULT: &str = "GRUB_CMDLINE_LINUX_DEFAULT";

/// Why an `/etc/default/grub`-style file was left untouched.
#[derive(Debug, thiserror::Error)]
pub enum GrubEditError {
    /// The file uses shell beyond what [`parse_shell_vars`] accepts (e.g. an `if` block).
    #[error("line {line}: {message}")]
    Unparsable {
        /// 1-based line of the problem.
        line: usize,
        /// What the parser did not accept.
        message: String,
    },
    /// A variable we would have to change is built with shell expansion (`$VAR`, `$(…)`,
    /// backticks), so we cannot know or safely rewrite its value.
    #[error("line {line}: {var} uses shell expansion ({value}); edit it by hand")]
    Expansion {
        /// 1-based line of the assignment.
        line: usize,
        /// Variable name, e.g. `GRUB_CMDLINE_LINUX_DEFAULT`.
        var: String,
        /// The assignment's value as written in the file.
        value: String,
    },
}

/// Characters that need no quoting in an unquoted shell word.
fn shell_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_./=,:@%+-".contains(c)
}

/// Double-quote `value` for POSIX shell.
fn double_quote(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Render `value` in the quoting style of the original word `raw`: double quotes stay
/// double, single quotes stay single (unless the value has a `'`), unquoted stays unquoted
/// unless the value needs quoting (e.g. it now contains a space), then double quotes.
fn render_like(raw: &str, value: &str) -> String {
    match raw.chars().next() {
        Some('\'') if !value.contains('\'') => format!("'{value}'"),
        Some('\'' | '"') => double_quote(value),
        _ if value.chars().all(shell_safe) => value.to_string(),
        _ => double_quote(value),
    }
}

fn has_expansion(value: &str) -> bool {
    value.contains('$') || value.contains('`')
}

/// Apply `e` to an `/etc/default/grub`-style file: removals to the value of every
/// `GRUB_CMDLINE_LINUX=` and `GRUB_CMDLINE_LINUX_DEFAULT=` assignment; additions to the last
/// `GRUB_CMDLINE_LINUX=` assignment, or a new `GRUB_CMDLINE_LINUX="…"` line at the end if the
/// file has none. An addition is skipped (and reported as a conflict if the key has another
/// value) when the file's effective `GRUB_CMDLINE_LINUX GRUB_CMDLINE_LINUX_DEFAULT` already
/// settles it.
///
/// For drop-ins in `/etc/default/grub.d/`, pass [`KargEdit::removals_only`]: a new
/// `GRUB_CMDLINE_LINUX="…"` line there would replace the main file's value.
///
/// Errors (text untouched) when the file is not in the shell subset `parse_shell_vars`
/// accepts, or when a value that needs a change contains `$` or a backtick.
pub fn edit_grub_default(text: &str, e: &KargEdit) -> Result<EditResult, GrubEditError> {
    let assigns = parse_shell_assignments(text)
        .map_err(|err| GrubEditError::Unparsable { line: err.line, message: err.message })?;

    let mut result = EditResult::unchanged(text);
    let mut values: Vec<String> = assigns.iter().map(|a| a.value.clone()).collect();
    let expansion = |i: usize| {
        let a = &assigns[i];
        GrubEditError::Expansion { line: a.line, var: a.name.clone(), value: text[a.span.clone()].to_string() }
    };

    let removals = e.removals_only();
    for (i, a) in assigns.iter().enumerate() {
        if a.name != LINUX && a.name != LINUX_DEFAULT {
            continue;
        }
        let r = edit_cmdline(&values[i], &removals);
        if r.changed {
            if has_expansion(&values[i]) {
                return Err(expansion(i));
            }
            values[i] = r.text.clone();
        }
        result.absorb_reports(r);
    }

    let mut appended_line = None;
    let adds: Vec<_> = e.add.iter().flat_map(|a| parse_cmdline(a).args).collect();
    if !adds.is_empty() {
        let last = |name: &str| assigns.iter().rposition(|a| a.name == name);
        let (linux, default) = (last(LINUX), last(LINUX_DEFAULT));
        let effective = [linux, default].iter().flatten().map(|&i| values[i].as_str()).collect::<Vec<_>>().join(" ");
        let (added, conflicts) = plan_additions(&parse_cmdline(&effective).args, &adds);
        result.conflicts.extend(conflicts);
        if !added.is_empty() {
            match linux {
                Some(i) => {
                    if has_expansion(&values[i]) {
                        return Err(expansion(i));
                    }
                    let add_only = KargEdit::add_only(added.clone());
                    values[i] = edit_cmdline(&values[i], &add_only).text;
                }
                None => {
                    let value = added.join(" ");
                    appended_line = Some((format!("{LINUX}={}\n", double_quote(&value)), value));
                }
            }
            result.added.extend(added);
        }
    }

    let mut out = String::with_capacity(text.len() + 64);
    let mut pos = 0;
    for (i, a) in assigns.iter().enumerate() {
        if values[i] != a.value {
            out.push_str(&text[pos..a.span.start]);
            out.push_str(&render_like(&text[a.span.clone()], &values[i]));
            pos = a.span.end;
        }
    }
    out.push_str(&text[pos..]);
    let mut expected: Vec<(String, String)> =
        assigns.iter().map(|a| a.name.clone()).zip(values.iter().cloned()).collect();
    let first_changed = assigns.iter().zip(&values).find(|(a, new)| a.value != **new);
    let mut check_line = first_changed.map_or(1, |(a, _)| a.line);
    if let Some((line, value)) = appended_line {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        if first_changed.is_none() {
            check_line = out.matches('\n').count() + 1;
        }
        out.push_str(&line);
        expected.push((LINUX.to_string(), value));
    }
    // Safety net: the result must read back as exactly the assignments we meant to write
    // (catches e.g. a file ending in a `\` line continuation that would swallow a new line).
    if parse_shell_vars(&out).ok().as_ref() != Some(&expected) {
        return Err(GrubEditError::Unparsable {
            line: check_line,
            message: "the edited file would not read back as intended; edit it by hand".to_string(),
        });
    }
    result.changed = out != text;
    result.text = out;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours() -> KargEdit {
        KargEdit::of(&["amd_iommu=off", "amd_iommu=pt"], &[])
    }

    /// Stock Fedora /etc/default/grub (with the Strix Halo `amd_iommu=off` tweak, Case 09).
    const FEDORA: &str = "GRUB_TIMEOUT=5\n\
        GRUB_DISTRIBUTOR=\"$(sed 's, release .*$,,g' /etc/system-release)\"\n\
        GRUB_DEFAULT=saved\n\
        GRUB_DISABLE_SUBMENU=true\n\
        GRUB_TERMINAL_OUTPUT=\"console\"\n\
        GRUB_CMDLINE_LINUX=\"rhgb quiet amd_iommu=off\"\n\
        GRUB_DISABLE_RECOVERY=\"true\"\n\
        GRUB_ENABLE_BLSCFG=true\n";

    /// Stock Ubuntu /etc/default/grub (24.04), with `amd_iommu=off` added to the default line.
    const UBUNTU: &str = "# If you change this file or any /etc/default/grub.d/*.cfg file,\n\
        # run 'update-grub' afterwards to update /boot/grub/grub.cfg.\n\
        # For full documentation of the options in these files, see:\n\
        #   info -f grub -n 'Simple configuration'\n\
        \n\
        GRUB_DEFAULT=0\n\
        GRUB_TIMEOUT_STYLE=hidden\n\
        GRUB_TIMEOUT=0\n\
        GRUB_DISTRIBUTOR=`( . /etc/os-release; echo ${NAME:-Ubuntu} ) 2>/dev/null || echo Ubuntu`\n\
        GRUB_CMDLINE_LINUX_DEFAULT=\"quiet splash amd_iommu=off\"\n\
        GRUB_CMDLINE_LINUX=\"\"\n\
        \n\
        # Uncomment to enable BadRAM filtering, modify to suit your needs\n\
        #GRUB_BADRAM=\"0x01234567,0xfefefefe,0x89abcdef,0xefefefef\"\n\
        \n\
        # Uncomment to disable graphical terminal\n\
        #GRUB_TERMINAL=console\n\
        \n\
        # Uncomment to get a beep at grub start\n\
        #GRUB_INIT_TUNE=\"480 440 1\"\n";

    #[test]
    fn fedora_stock() {
        let r = edit_grub_default(FEDORA, &ours()).unwrap();
        assert!(r.changed);
        assert_eq!(r.text, FEDORA.replace("rhgb quiet amd_iommu=off", "rhgb quiet"));
        assert_eq!(r.removed, ["amd_iommu=off"]);
        let vars = parse_shell_vars(&r.text).unwrap();
        assert_eq!(vars.len(), 8);
    }

    #[test]
    fn ubuntu_stock() {
        let e = KargEdit::of(&["amd_iommu=off", "amd_iommu=pt"], &["iommu=pt"]);
        let r = edit_grub_default(UBUNTU, &e).unwrap();
        let want = UBUNTU
            .replace("\"quiet splash amd_iommu=off\"", "\"quiet splash\"")
            .replace("GRUB_CMDLINE_LINUX=\"\"", "GRUB_CMDLINE_LINUX=\"iommu=pt\"");
        assert_eq!(r.text, want);
        assert_eq!(
            (r.removed.as_slice(), r.added.as_slice()),
            (&["amd_iommu=off".to_string()][..], &["iommu=pt".to_string()][..])
        );
        assert!(r.conflicts.is_empty());
    }

    /// (input, edit, expected output)
    #[allow(clippy::type_complexity)]
    const CASES: &[(&str, &[&str], &[&str], &str)] = &[
        // Nothing to do: identical text.
        (FEDORA, &["amd_iommu=pt"], &[], FEDORA),
        ("", &["amd_iommu=off"], &[], ""),
        // Quoting styles are kept; unquoted switches to double quotes when it needs to.
        ("GRUB_CMDLINE_LINUX='quiet amd_iommu=off'\n", &["amd_iommu=off"], &[], "GRUB_CMDLINE_LINUX='quiet'\n"),
        ("GRUB_CMDLINE_LINUX=amd_iommu=off\n", &["amd_iommu=off"], &[], "GRUB_CMDLINE_LINUX=\n"),
        ("GRUB_CMDLINE_LINUX=quiet\n", &[], &["iommu=pt"], "GRUB_CMDLINE_LINUX=\"quiet iommu=pt\"\n"),
        ("GRUB_CMDLINE_LINUX=\n", &[], &["iommu=pt"], "GRUB_CMDLINE_LINUX=iommu=pt\n"),
        ("GRUB_CMDLINE_LINUX='a' # keep\n", &[], &["b=it's"], "GRUB_CMDLINE_LINUX=\"a b=it's\" # keep\n"),
        // Trailing comments, `export`, other assignments on the line, CRLF.
        (
            "export GRUB_CMDLINE_LINUX=\"amd_iommu=off rhgb\"  # local tweak\nX=1\n",
            &["amd_iommu=off"],
            &[],
            "export GRUB_CMDLINE_LINUX=\"rhgb\"  # local tweak\nX=1\n",
        ),
        (
            "A=1 GRUB_CMDLINE_LINUX_DEFAULT=\"quiet amd_iommu=off\" B=2\n",
            &["amd_iommu"],
            &[],
            "A=1 GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\" B=2\n",
        ),
        (
            "GRUB_CMDLINE_LINUX=\"quiet amd_iommu=off\"\r\nX=1\r\n",
            &["amd_iommu=off"],
            &[],
            "GRUB_CMDLINE_LINUX=\"quiet\"\r\nX=1\r\n",
        ),
        // Escaped quotes inside the value survive.
        (
            "GRUB_CMDLINE_LINUX=\"dyndbg=\\\"file a.c +p\\\" amd_iommu=off,fullflush\"\n",
            &["amd_iommu=off"],
            &[],
            "GRUB_CMDLINE_LINUX=\"dyndbg=\\\"file a.c +p\\\" amd_iommu=fullflush\"\n",
        ),
        // Every assignment gets the removal; the add goes to the last GRUB_CMDLINE_LINUX.
        (
            "GRUB_CMDLINE_LINUX=\"amd_iommu=off\"\nGRUB_CMDLINE_LINUX=\"rhgb amd_iommu=off\"\nGRUB_CMDLINE_LINUX_DEFAULT=\"amd_iommu=off\"\n",
            &["amd_iommu=off"],
            &["iommu=pt"],
            "GRUB_CMDLINE_LINUX=\"\"\nGRUB_CMDLINE_LINUX=\"rhgb iommu=pt\"\nGRUB_CMDLINE_LINUX_DEFAULT=\"\"\n",
        ),
        // No GRUB_CMDLINE_LINUX yet: a new line at the end (newline added if missing).
        (
            "GRUB_TIMEOUT=5",
            &[],
            &["iommu=pt", "x=\"a b\""],
            "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX=\"iommu=pt x=\\\"a b\\\"\"\n",
        ),
        ("", &[], &["iommu=pt"], "GRUB_CMDLINE_LINUX=\"iommu=pt\"\n"),
        // Already in GRUB_CMDLINE_LINUX_DEFAULT (which comes later on the line): nothing to add.
        (
            "GRUB_CMDLINE_LINUX=\"\"\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet iommu=pt\"\n",
            &[],
            &["iommu=pt"],
            "GRUB_CMDLINE_LINUX=\"\"\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet iommu=pt\"\n",
        ),
        // Drop-in with expansion but nothing of ours: untouched, no error.
        (
            "GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT iommu=pt\"\n",
            &["amd_iommu=off", "amd_iommu=pt"],
            &[],
            "GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT iommu=pt\"\n",
        ),
        // Other variables may use expansion freely.
        (
            "GRUB_DISTRIBUTOR=\"$(sed 's, release .*$,,g' /etc/system-release)\"\nGRUB_CMDLINE_LINUX=\"amd_iommu=off\"\n",
            &["amd_iommu=off"],
            &[],
            "GRUB_DISTRIBUTOR=\"$(sed 's, release .*$,,g' /etc/system-release)\"\nGRUB_CMDLINE_LINUX=\"\"\n",
        ),
    ];

    #[test]
    fn table_and_idempotence() {
        for (input, remove, add, want) in CASES {
            let e = KargEdit::of(remove, add);
            let r = edit_grub_default(input, &e).unwrap_or_else(|err| panic!("{input:?}: {err}"));
            assert_eq!(r.text, *want, "input {input:?}");
            assert_eq!(r.changed, input != want, "input {input:?}");
            let again = edit_grub_default(&r.text, &e).unwrap();
            assert!(!again.changed, "not idempotent: {input:?}");
            assert_eq!(again.text, r.text);
            parse_shell_vars(&r.text).unwrap();
        }
    }

    #[test]
    fn conflict_in_default_is_reported() {
        let text = "GRUB_CMDLINE_LINUX=\"\"\nGRUB_CMDLINE_LINUX_DEFAULT=\"iommu=nopt\"\n";
        let r = edit_grub_default(text, &KargEdit::of(&[], &["iommu=pt"])).unwrap();
        assert!(!r.changed);
        assert_eq!(r.text, text);
        assert_eq!(r.conflicts, ["iommu=pt not added: iommu=nopt is already set"]);
    }

    #[test]
    fn expansion_refused() {
        let dropin = "# /etc/default/grub.d/50-local.cfg\n\
            GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT amd_iommu=off\"\n";
        let err = edit_grub_default(dropin, &ours()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 2: GRUB_CMDLINE_LINUX_DEFAULT uses shell expansion \
             (\"$GRUB_CMDLINE_LINUX_DEFAULT amd_iommu=off\"); edit it by hand"
        );
        // Adding to a value built with expansion is refused too.
        let text = "X=1\nGRUB_CMDLINE_LINUX=`cat /etc/args`\n";
        match edit_grub_default(text, &KargEdit::of(&[], &["iommu=pt"])) {
            Err(GrubEditError::Expansion { line: 2, var, .. }) => assert_eq!(var, "GRUB_CMDLINE_LINUX"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unparsable_refused() {
        let cases: &[(&str, usize)] = &[
            ("GRUB_TIMEOUT=5\nif [ -x /usr/bin/foo ]; then\n  GRUB_CMDLINE_LINUX=\"amd_iommu=off\"\nfi\n", 2),
            ("GRUB_CMDLINE_LINUX+=\" amd_iommu=off\"\n", 1),
            ("A=1\nGRUB_CMDLINE_LINUX=\"amd_iommu=off\n", 2),
        ];
        for (input, line) in cases {
            match edit_grub_default(input, &ours()) {
                Err(GrubEditError::Unparsable { line: l, .. }) => assert_eq!(l, *line, "input {input:?}"),
                other => panic!("input {input:?}: {other:?}"),
            }
        }
    }

    /// A file ending in a line continuation would swallow an appended line: refused.
    #[test]
    fn unsafe_append_refused() {
        let text = "GRUB_TIMEOUT=5\nX=a\\";
        match edit_grub_default(text, &KargEdit::of(&[], &["iommu=pt"])) {
            Err(GrubEditError::Unparsable { line: 3, message }) => assert!(message.contains("read back")),
            other => panic!("{other:?}"),
        }
        assert!(!edit_grub_default(text, &ours()).unwrap().changed);
    }

    /// The spans `parse_shell_assignments` reports cover exactly each raw value word.
    #[test]
    fn spans_cover_the_raw_value_words() {
        let inputs = [
            FEDORA,
            UBUNTU,
            "export A=1 B=\"x\"'y'z # trailing comment\nA=2\n",
            "X=\"a \\\"q\\\" \\\\ \\$HOME \\n\"\n",
            "X=\"multi\nline\"\nY=\\ a\\b",
            "export PATH\nE=\n",
            "X=$(a \"(b)\" ')' $(c))y\n",
            "A=`x \\` y` B=\"`z`\" \\\n C=3",
        ];
        for input in inputs {
            let vars = parse_shell_vars(input).unwrap();
            let assigns = parse_shell_assignments(input).unwrap();
            let names: Vec<&str> = assigns.iter().map(|a| a.name.as_str()).collect();
            assert_eq!(names, vars.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), "input {input:?}");
            // Re-parsing just the raw value word gives the same value.
            for (a, (_, v)) in assigns.iter().zip(&vars) {
                let one = parse_shell_vars(&format!("X={}", &input[a.span.clone()])).unwrap();
                assert_eq!(&one[0].1, v, "input {input:?}");
            }
        }
        assert_eq!(parse_shell_assignments("A=1\nB=2\n").unwrap()[1].line, 2);
    }

    #[test]
    fn garbage_never_panics() {
        let inputs = [
            "\"",
            "GRUB_CMDLINE_LINUX=\"",
            "GRUB_CMDLINE_LINUX='",
            "=",
            "\u{0}\u{fffd}",
            "GRUB_CMDLINE_LINUX=\"\u{fffd}é amd_iommu=off\"",
            "GRUB_CMDLINE_LINUX=\\",
        ];
        let e = KargEdit::of(&["amd_iommu=off", "\""], &["a=\"b", "é"]);
        for input in inputs {
            if let Ok(r) = edit_grub_default(input, &e) {
                parse_shell_vars(&r.text).unwrap();
            }
        }
    }
}
