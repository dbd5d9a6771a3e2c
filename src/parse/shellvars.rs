//! `KEY=value` files: os-release, `/etc/default/grub`, `/etc/default/grub.d/*.cfg`,
//! systemd `EnvironmentFile=`, grubenv.
//!
//! `/etc/default/grub` is sourced by `grub2-mkconfig` as POSIX shell
//! (<https://www.gnu.org/software/grub/manual/grub/html_node/Simple-configuration.html>),
//! so [`parse_shell_vars`] accepts only the subset of shell we can rewrite safely and errors
//! on anything else (the caller must then refuse to edit the file). systemd
//! `EnvironmentFile=` and grubenv (`kernelopts=…`, <https://src.fedoraproject.org/rpms/grubby>) are not shell; they go
//! through
//! the lenient [`parse_env_lenient`].

use serde::Serialize;

/// A line of a shell-variable file that is outside the supported subset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ShellVarsError {
    /// 1-based line number where the problem starts.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

/// One `NAME=word` assignment: its value as the shell reads it, and where the raw value word
/// stands in the text (so an editor can rewrite just that word).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellAssignment {
    /// Variable name (without `export`).
    pub name: String,
    /// The value after quote removal; `$VAR` and substitutions kept literally.
    pub value: String,
    /// 1-based line where the statement starts.
    pub line: usize,
    /// Byte range of the raw value word (after `=`, quotes included).
    pub span: std::ops::Range<usize>,
}

struct Cursor {
    /// Characters with their byte offsets in the text.
    chars: Vec<(usize, char)>,
    pos: usize,
    line: usize,
    len: usize,
}

impl Cursor {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|&(_, c)| c)
    }
    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).map(|&(_, c)| c)
    }
    fn byte_pos(&self) -> usize {
        self.chars.get(self.pos).map_or(self.len, |&(b, _)| b)
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }
    fn err<T>(&self, line: usize, message: impl Into<String>) -> Result<T, ShellVarsError> {
        Err(ShellVarsError { line, message: message.into() })
    }
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\r'
}

/// Parse a shell-variable file strictly. Returns assignments in order, duplicates kept
/// (the caller takes the last). `$VAR` references are kept literally; see [`expand_vars`].
///
/// Supported: comments, blank lines, `export KEY=…`, `export KEY` (ignored), several
/// assignments on one line, `"double"` (escapes `\"` `\\` `\$` `` \` `` and
/// backslash-newline), `'single'`, unquoted words with `\x` escapes, and adjacent
/// concatenation such as `"$GRUB_CMDLINE_LINUX "foo`. Command substitutions (`$(…)`,
/// `` `…` ``) are kept verbatim, not run, because stock files use them for
/// `GRUB_DISTRIBUTOR` (Fedora: `"$(sed 's, release .*$,,g' /etc/system-release)"`; Ubuntu:
/// `` `( . /etc/os-release; echo ${NAME:-Ubuntu} ) 2>/dev/null || echo Ubuntu` ``).
/// Errors on unterminated quotes/substitutions, operators outside quotes (`;`, `|`, `&&`,
/// …) and anything that is not an assignment (`if [ -x … ]; then`, `GRUB_CMDLINE_LINUX+=x`).
///
/// Caveat: a `$` produced by `\$` or `'$x'` is indistinguishable from a reference
/// afterwards, so [`expand_vars`] would expand it.
pub fn parse_shell_vars(s: &str) -> Result<Vec<(String, String)>, ShellVarsError> {
    Ok(parse_shell_assignments(s)?.into_iter().map(|a| (a.name, a.value)).collect())
}

/// [`parse_shell_vars`] with each assignment's line and the byte span of its raw value word.
pub fn parse_shell_assignments(s: &str) -> Result<Vec<ShellAssignment>, ShellVarsError> {
    let mut c = Cursor { chars: s.char_indices().collect(), pos: 0, line: 1, len: s.len() };
    let mut out = Vec::new();
    loop {
        // Skip blanks, newlines and comments between statements.
        loop {
            match c.peek() {
                Some(ch) if is_blank(ch) || ch == '\n' => {
                    c.bump();
                }
                Some('#') => {
                    while c.peek().is_some_and(|ch| ch != '\n') {
                        c.bump();
                    }
                }
                Some('\\') if c.peek_at(1) == Some('\n') => {
                    c.bump();
                    c.bump();
                }
                _ => break,
            }
        }
        let Some(first) = c.peek() else { break };
        let start_line = c.line;
        if !is_name_start(first) {
            return c.err(start_line, format!("not an assignment (starts with {first:?})"));
        }
        let mut name = String::new();
        while let Some(ch) = c.peek().filter(|&ch| is_name_char(ch)) {
            name.push(ch);
            c.bump();
        }
        if name == "export" && c.peek().is_some_and(is_blank) {
            while c.peek().is_some_and(is_blank) {
                c.bump();
            }
            if !c.peek().is_some_and(is_name_start) {
                return c.err(start_line, "`export` without a variable name");
            }
            name.clear();
            while let Some(ch) = c.peek().filter(|&ch| is_name_char(ch)) {
                name.push(ch);
                c.bump();
            }
            // `export NAME` without `=` only marks an existing variable for export.
            if c.peek().is_none_or(|ch| is_blank(ch) || ch == '\n') {
                continue;
            }
        }
        if c.peek() != Some('=') {
            return c.err(start_line, format!("not an assignment: `{name}` is not followed by `=`"));
        }
        c.bump();
        let start = c.byte_pos();
        let value = read_word(&mut c)?;
        out.push(ShellAssignment { name, value, line: start_line, span: start..c.byte_pos() });
        // After a word: blanks, then newline / EOF / comment / another assignment.
        match c.peek() {
            None | Some('\n') | Some(' ') | Some('\t') | Some('\r') | Some('#') => {}
            Some(other) => {
                return c.err(c.line, format!("unsupported character {other:?} after value"));
            }
        }
    }
    Ok(out)
}

/// Read one shell word (the value of an assignment) up to unquoted whitespace.
fn read_word(c: &mut Cursor) -> Result<String, ShellVarsError> {
    let mut v = String::new();
    while let Some(ch) = c.peek() {
        match ch {
            ' ' | '\t' | '\r' | '\n' => break,
            '"' => {
                let open = c.line;
                c.bump();
                loop {
                    match c.bump() {
                        None => return c.err(open, "unterminated double quote"),
                        Some('"') => break,
                        Some('\\') => match c.peek() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => {
                                v.push(e);
                                c.bump();
                            }
                            Some('\n') => {
                                c.bump();
                            }
                            _ => v.push('\\'),
                        },
                        Some('`') => {
                            v.push('`');
                            read_backticks(c, &mut v)?;
                        }
                        Some('$') if c.peek() == Some('(') => {
                            v.push('$');
                            read_parens(c, &mut v)?;
                        }
                        Some(other) => v.push(other),
                    }
                }
            }
            '\'' => {
                let open = c.line;
                c.bump();
                loop {
                    match c.bump() {
                        None => return c.err(open, "unterminated single quote"),
                        Some('\'') => break,
                        Some(other) => v.push(other),
                    }
                }
            }
            '\\' => {
                c.bump();
                match c.bump() {
                    Some('\n') | None => {}
                    Some(other) => v.push(other),
                }
            }
            '`' => {
                c.bump();
                v.push('`');
                read_backticks(c, &mut v)?;
            }
            '$' if c.peek_at(1) == Some('(') => {
                c.bump();
                v.push('$');
                read_parens(c, &mut v)?;
            }
            ';' | '|' | '&' | '<' | '>' | '(' | ')' => {
                return c.err(c.line, format!("shell operator {ch:?} not supported"));
            }
            other => {
                v.push(other);
                c.bump();
            }
        }
    }
    Ok(v)
}

/// Copy a `` `…` `` command substitution verbatim; the opening backtick is already consumed.
fn read_backticks(c: &mut Cursor, v: &mut String) -> Result<(), ShellVarsError> {
    let open = c.line;
    loop {
        match c.bump() {
            None => return c.err(open, "unterminated command substitution"),
            Some('`') => {
                v.push('`');
                return Ok(());
            }
            Some('\\') => {
                v.push('\\');
                if let Some(e) = c.bump() {
                    v.push(e);
                }
            }
            Some(other) => v.push(other),
        }
    }
}

/// Copy a `$(…)` command substitution verbatim (nested parens and quotes balanced); the
/// cursor is at `(`.
fn read_parens(c: &mut Cursor, v: &mut String) -> Result<(), ShellVarsError> {
    let open = c.line;
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    loop {
        let Some(ch) = c.bump() else {
            return c.err(open, "unterminated command substitution");
        };
        v.push(ch);
        match (quote, ch) {
            (Some(q), ch) if ch == q => quote = None,
            (Some('"') | None, '\\') => {
                if let Some(e) = c.bump() {
                    v.push(e);
                }
            }
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(ch),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth == 0 {
                    return Ok(());
                }
            }
            _ => {}
        }
    }
}

/// Expand `$NAME` and `${NAME}` in `value` using the last definition of NAME in `vars`
/// (pass only the assignments that precede the one being expanded). Unknown names expand
/// to the empty string, as in shell; anything else after `$` is kept literally.
pub fn expand_vars(value: &str, vars: &[(String, String)]) -> String {
    let lookup = |name: &str| vars.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("");
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '$' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&'{') {
            let close = chars[i + 2..].iter().position(|&c| c == '}');
            if let Some(len) = close {
                let name: String = chars[i + 2..i + 2 + len].iter().collect();
                if !name.is_empty() && name.starts_with(is_name_start) && name.chars().all(is_name_char) {
                    out.push_str(lookup(&name));
                    i += len + 3;
                    continue;
                }
            }
            out.push('$');
            i += 1;
        } else if chars.get(i + 1).is_some_and(|&c| is_name_start(c)) {
            let mut j = i + 1;
            while j < chars.len() && is_name_char(chars[j]) {
                j += 1;
            }
            let name: String = chars[i + 1..j].iter().collect();
            out.push_str(lookup(&name));
            i = j;
        } else {
            out.push('$');
            i += 1;
        }
    }
    out
}

/// Lenient `KEY=value` parser for systemd `EnvironmentFile=` and grubenv: bad lines are
/// skipped. A value that is one whole `"…"`/`'…'` string is unquoted; otherwise the raw
/// text after `=` is kept (trimmed), so grubenv's `kernelopts=root=… ro rhgb quiet` works.
/// grubenv's `#####` padding is skipped as a comment.
pub fn parse_env_lenient(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in s.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let line = line.strip_prefix("export ").map(str::trim_start).unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let k = k.trim();
        if k.is_empty() || k.chars().any(|c| c.is_whitespace() || c == '"' || c == '\'') {
            continue;
        }
        out.push((k.to_string(), unquote_whole(v.trim())));
    }
    out
}

fn unquote_whole(v: &str) -> String {
    let quoted =
        v.len() >= 2 && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')));
    if !quoted {
        return v.to_string();
    }
    let inner = &v[1..v.len() - 1];
    if v.starts_with('\'') {
        return inner.to_string();
    }
    let mut out = String::new();
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some(e @ ('"' | '\\' | '$' | '`')) => out.push(e),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn strict_ok() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("", &[]),
            ("\n\n# comment only\n", &[]),
            // Fedora /etc/default/grub
            // Stock Fedora and Ubuntu GRUB_DISTRIBUTOR lines: substitution kept verbatim.
            (
                "GRUB_TIMEOUT=5\nGRUB_DISTRIBUTOR=\"$(sed 's, release .*$,,g' /etc/system-release)\"\n",
                &[("GRUB_TIMEOUT", "5"), ("GRUB_DISTRIBUTOR", "$(sed 's, release .*$,,g' /etc/system-release)")],
            ),
            (
                "GRUB_DISTRIBUTOR=`( . /etc/os-release; echo ${NAME:-Ubuntu} ) 2>/dev/null || echo Ubuntu`\n\
                 X=$(a \"(b)\" ')' $(c))y\n",
                &[
                    ("GRUB_DISTRIBUTOR", "`( . /etc/os-release; echo ${NAME:-Ubuntu} ) 2>/dev/null || echo Ubuntu`"),
                    ("X", "$(a \"(b)\" ')' $(c))y"),
                ],
            ),
            (
                "GRUB_TIMEOUT=5\nGRUB_DEFAULT=saved\nGRUB_DISABLE_SUBMENU=true\n\
                 GRUB_TERMINAL_OUTPUT=\"console\"\n\
                 GRUB_CMDLINE_LINUX=\"rhgb quiet amd_iommu=off\"\nGRUB_ENABLE_BLSCFG=true\n",
                &[
                    ("GRUB_TIMEOUT", "5"),
                    ("GRUB_DEFAULT", "saved"),
                    ("GRUB_DISABLE_SUBMENU", "true"),
                    ("GRUB_TERMINAL_OUTPUT", "console"),
                    ("GRUB_CMDLINE_LINUX", "rhgb quiet amd_iommu=off"),
                    ("GRUB_ENABLE_BLSCFG", "true"),
                ],
            ),
            // Ubuntu /etc/default/grub.d/*.cfg drop-in style
            (
                "GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT amd_iommu=off\"\n",
                &[("GRUB_CMDLINE_LINUX_DEFAULT", "$GRUB_CMDLINE_LINUX_DEFAULT amd_iommu=off")],
            ),
            // os-release
            (
                "NAME=\"Fedora Linux\"\nVERSION_ID=43\nID=fedora\nPRETTY_NAME='Fedora Linux 43 (Workstation Edition)'\n",
                &[
                    ("NAME", "Fedora Linux"),
                    ("VERSION_ID", "43"),
                    ("ID", "fedora"),
                    ("PRETTY_NAME", "Fedora Linux 43 (Workstation Edition)"),
                ],
            ),
            ("export A=1 B=\"x\"'y'z # trailing comment\nA=2\n", &[("A", "1"), ("B", "xyz"), ("A", "2")]),
            ("X=\"a \\\"q\\\" \\\\ \\$HOME \\n\"\n", &[("X", "a \"q\" \\ $HOME \\n")]),
            ("X=\"multi\nline\"\nY=\\ a\\b", &[("X", "multi\nline"), ("Y", " ab")]),
            ("export PATH\nE=\n", &[("E", "")]),
            ("X=1\r\nY=2\r\n", &[("X", "1"), ("Y", "2")]),
        ];
        for (input, want) in cases {
            assert_eq!(parse_shell_vars(input).unwrap(), kv(want), "input {input:?}");
        }
    }

    #[test]
    fn strict_errors() {
        let cases: &[(&str, usize)] = &[
            ("A=1\nB=\"unterminated\nC=3\n", 2),
            ("A='open\n", 1),
            ("A=1\nif [ -x /usr/bin/foo ]; then\n  B=2\nfi\n", 2),
            ("GRUB_CMDLINE_LINUX+=x\n", 1),
            ("A=1\n\nB=2; C=3\n", 3),
            ("A=1\nB=`uname -r\n", 2),
            ("A=$(uname -r\n\n", 1),
            ("A=\"$(uname ')'\"\n", 1),
            ("A=1 echo hi\n", 1),
            ("export\n", 1),
            ("1A=2\n", 1),
            ("\u{0}\u{1}\u{fffd}", 1),
            ("A=b|c", 1),
        ];
        for (input, line) in cases {
            let e = parse_shell_vars(input).expect_err(input);
            assert_eq!(e.line, *line, "input {input:?}: {e}");
            assert!(e.to_string().starts_with(&format!("line {line}: ")));
        }
    }

    #[test]
    fn expansion() {
        let vars = kv(&[("GRUB_CMDLINE_LINUX", "rhgb"), ("GRUB_CMDLINE_LINUX", "rhgb quiet"), ("X", "x")]);
        let cases = [
            ("$GRUB_CMDLINE_LINUX amd_iommu=off", "rhgb quiet amd_iommu=off"),
            ("${X}y$X.z", "xyx.z"),
            ("$UNKNOWN-a", "-a"),
            ("cost $5 ${ and ${1x} $", "cost $5 ${ and ${1x} $"),
            ("", ""),
            ("é$Xé", "éxé"),
        ];
        for (input, want) in cases {
            assert_eq!(expand_vars(input, &vars), want, "input {input:?}");
        }
    }

    #[test]
    fn lenient() {
        let grubenv = "# GRUB Environment Block\n\
             saved_entry=abc-7.1.8-200.fc44.x86_64\n\
             kernelopts=root=UUID=1234 ro rhgb quiet \n\
             boot_success=1\n\
             ##############################################";
        let cases: &[(&str, &[(&str, &str)])] = &[
            (
                grubenv,
                &[
                    ("saved_entry", "abc-7.1.8-200.fc44.x86_64"),
                    ("kernelopts", "root=UUID=1234 ro rhgb quiet"),
                    ("boot_success", "1"),
                ],
            ),
            // /etc/lemonade/lemonade.conf style EnvironmentFile
            (
                "LEMONADE_HOST=127.0.0.1\nLEMONADE_PORT=\"8000\"\nbad line\n=x\n; c\nexport LEMONADE_LLAMACPP='vulkan'\nFLM_ARGS=\"a \\\"b\\\"\"\n",
                &[
                    ("LEMONADE_HOST", "127.0.0.1"),
                    ("LEMONADE_PORT", "8000"),
                    ("LEMONADE_LLAMACPP", "vulkan"),
                    ("FLM_ARGS", "a \"b\""),
                ],
            ),
            ("", &[]),
            ("\u{0}\u{fffd}=\"\n\"=\n", &[("\u{0}\u{fffd}", "\"")]),
        ];
        for (input, want) in cases {
            assert_eq!(parse_env_lenient(input), kv(want), "input {input:?}");
        }
    }
}
