//! `systemctl show` properties and systemd unit / drop-in files.
//!
//! Used to inspect the Lemonade service
//! (<https://github.com/lemonade-sdk/lemonade/blob/d88f5d96087d4daf40220206c09ca60116aed99b/data/lemonade-server.service.in>,
//! <https://github.com/lemonade-sdk/lemonade/blob/158c04665acfc6ef7a57349e956737d4a9615ec0/data/lemonade-server.service.in>,
//! <https://github.com/lemonade-sdk/lemonade/blob/1938f30432f0245511bb652b4b1fb8bb82a30843/data/lemond.service.in>:
//! `lemonade-server.service` /
//! `lemond.service`, `EnvironmentFile=/etc/lemonade/lemonade.conf`,
//! `EnvironmentFile=-/etc/lemonade/conf.d/*.conf`, `LimitMEMLOCK=infinity`) and the Fedora
//! `user@.service` memlock drop-in
//! (<https://github.com/amd/xdna-driver/blob/856409cafc23cee55976ebcaa0a073ab4ec6dfe2/README.md>). Formats follow
//! systemd(1)'s `systemctl show`
//! (`key=value` per line, `ExecStart={ path=… ; argv[]=… ; … }`, `EnvironmentFiles=path
//! (ignore_errors=yes)`) and systemd.syntax(7) for unit files.

/// Split `systemctl show` output into (property, value) pairs on the first `=`.
/// Lines without `=` are skipped; values are kept verbatim (only `\r` trimmed).
pub fn parse_show(s: &str) -> Vec<(String, String)> {
    s.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_string(), v.trim_end_matches('\r').to_string()))
        })
        .collect()
}

/// Split on whitespace honouring double/single quotes and backslash escapes (systemd's
/// `extract_first_word` with `EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE`, simplified).
fn split_quoted(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_tok = false;
    let mut quote: Option<char> = None;
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                match it.next() {
                    Some('n') => cur.push('\n'),
                    Some('t') => cur.push('\t'),
                    Some(e) => cur.push(e),
                    None => cur.push('\\'),
                }
                in_tok = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_tok = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_tok {
                    out.push(std::mem::take(&mut cur));
                    in_tok = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_tok = true;
            }
        }
    }
    if in_tok {
        out.push(cur);
    }
    out
}

/// Parse the `Environment=` property: space-separated `K=V` items, items containing
/// spaces double-quoted by systemd (`"PATH=/a b:/c" FOO=1`). Items without `=` are skipped.
pub fn parse_environment(value: &str) -> Vec<(String, String)> {
    split_quoted(value)
        .into_iter()
        .filter_map(|item| {
            let (k, v) = item.split_once('=')?;
            (!k.is_empty()).then(|| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// argv of an `ExecStart=` property: `{ path=/usr/bin/lemond ; argv[]=/usr/bin/lemond
/// --port 13305 ; ignore_errors=no ; … }` → `["/usr/bin/lemond", "--port", "13305"]`.
/// Only the first command is returned. A plain unit-file command line (no `argv[]=`) is
/// split directly, minus systemd's `-@:+!` prefixes on the executable.
pub fn parse_exec_start_argv(value: &str) -> Vec<String> {
    if let Some(i) = value.find("argv[]=") {
        let rest = &value[i + "argv[]=".len()..];
        let end = rest.find(" ;").unwrap_or(rest.len());
        return split_quoted(&rest[..end]);
    }
    if value.trim_start().starts_with('{') {
        // `{ path=… ; … }` without argv: fall back to the path.
        return value
            .split(';')
            .find_map(|f| f.trim().trim_start_matches('{').trim().strip_prefix("path="))
            .map(|p| vec![p.trim().to_string()])
            .unwrap_or_default();
    }
    let mut argv = split_quoted(value);
    if let Some(first) = argv.first_mut() {
        *first = first.trim_start_matches(['-', '@', ':', '+', '!']).to_string();
        if first.is_empty() {
            argv.remove(0);
        }
    }
    argv
}

/// Parse the `EnvironmentFiles=` property (`/etc/lemonade/lemonade.conf (ignore_errors=no)
/// /etc/lemonade/secrets.conf (ignore_errors=yes)`) or a unit-file `EnvironmentFile=`
/// value (`-/etc/default/lemond`) into (path, optional).
pub fn parse_environment_files(value: &str) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    for tok in value.split_whitespace() {
        if let Some(flag) = tok.strip_prefix("(ignore_errors=") {
            if let Some(last) = out.last_mut() {
                last.1 = flag.trim_end_matches(')') == "yes";
            }
        } else if let Some(path) = tok.strip_prefix('-') {
            if !path.is_empty() {
                out.push((path.to_string(), true));
            }
        } else {
            out.push((tok.to_string(), false));
        }
    }
    out
}

/// Parse a unit or drop-in file into (section, key, value) triples in order. Comments are
/// lines starting with `#` or `;`; a trailing `\` continues the line (joined with a space;
/// comment lines inside a continuation are skipped, as systemd does). Keys before any
/// section get section `""`. An empty value (`ExecStart=`, a reset) is kept.
pub fn parse_unit_file(s: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut pending: Option<String> = None;
    for raw in s.lines() {
        let line = raw.trim();
        if pending.is_some() && (line.starts_with('#') || line.starts_with(';')) {
            continue;
        }
        if pending.is_none() && (line.is_empty() || line.starts_with('#') || line.starts_with(';')) {
            continue;
        }
        let (text, cont) = match line.strip_suffix('\\') {
            Some(t) => (t, true),
            None => (line, false),
        };
        let full = match pending.take() {
            Some(mut p) => {
                p.push(' ');
                p.push_str(text.trim_end());
                p
            }
            None => text.trim_end().to_string(),
        };
        if cont {
            pending = Some(full);
            continue;
        }
        push_unit_line(&full, &mut section, &mut out);
    }
    if let Some(p) = pending {
        push_unit_line(&p, &mut section, &mut out);
    }
    out
}

fn push_unit_line(line: &str, section: &mut String, out: &mut Vec<(String, String, String)>) {
    let line = line.trim();
    if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
        *section = name.trim().to_string();
        return;
    }
    if let Some((k, v)) = line.split_once('=') {
        let k = k.trim();
        if !k.is_empty() {
            out.push((section.clone(), k.to_string(), v.trim().to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn show() {
        let out = "Id=lemond.service\nLimitMEMLOCK=infinity\nLimitMEMLOCKSoft=infinity\n\
                   Environment=\"PATH=/a b:/c\" FOO=1\nDescription=Lemonade = server\ngarbage\n=x\n";
        let want = pairs(&[
            ("Id", "lemond.service"),
            ("LimitMEMLOCK", "infinity"),
            ("LimitMEMLOCKSoft", "infinity"),
            ("Environment", "\"PATH=/a b:/c\" FOO=1"),
            ("Description", "Lemonade = server"),
        ]);
        assert_eq!(parse_show(out), want);
        assert!(parse_show("").is_empty());
        assert!(parse_show("\u{0}\u{fffd}").is_empty());
    }

    #[test]
    fn environment() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("\"PATH=/a b:/c\" FOO=1", &[("PATH", "/a b:/c"), ("FOO", "1")]),
            (
                "LD_LIBRARY_PATH=/opt/xilinx/xrt/lib64 FLM_CONFIG_PATH=/opt/fastflowlm/share/flm/model_list.json",
                &[
                    ("LD_LIBRARY_PATH", "/opt/xilinx/xrt/lib64"),
                    ("FLM_CONFIG_PATH", "/opt/fastflowlm/share/flm/model_list.json"),
                ],
            ),
            ("X=\"a\\\"b\" noeq =v Y=", &[("X", "a\"b"), ("Y", "")]),
            ("", &[]),
            ("\"unterminated=x", &[("unterminated", "x")]),
            ("\\", &[]),
        ];
        for (input, want) in cases {
            assert_eq!(parse_environment(input), pairs(want), "{input:?}");
        }
    }

    #[test]
    fn exec_start() {
        let cases: &[(&str, &[&str])] = &[
            (
                "{ path=/usr/bin/lemond ; argv[]=/usr/bin/lemond --port 13305 --host 127.0.0.1 ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }",
                &["/usr/bin/lemond", "--port", "13305", "--host", "127.0.0.1"],
            ),
            (
                "{ path=/opt/bin/lemonade-server ; argv[]=/opt/bin/lemonade-server serve ; flags= ; start_time=[n/a] }",
                &["/opt/bin/lemonade-server", "serve"],
            ),
            ("{ path=/usr/bin/x ; ignore_errors=no }", &["/usr/bin/x"]),
            ("-/usr/bin/lemond --port 13305", &["/usr/bin/lemond", "--port", "13305"]),
            ("", &[]),
            ("{", &[]),
            ("argv[]=", &[]),
            ("- x", &["x"]),
        ];
        for (input, want) in cases {
            assert_eq!(parse_exec_start_argv(input), strs(want), "{input:?}");
        }
    }

    #[test]
    fn environment_files() {
        let cases: &[(&str, &[(&str, bool)])] = &[
            (
                "/etc/lemonade/lemonade.conf (ignore_errors=no) /etc/lemonade/secrets.conf (ignore_errors=yes)",
                &[("/etc/lemonade/lemonade.conf", false), ("/etc/lemonade/secrets.conf", true)],
            ),
            ("-/etc/default/lemond", &[("/etc/default/lemond", true)]),
            ("-/etc/lemonade/conf.d/*.conf", &[("/etc/lemonade/conf.d/*.conf", true)]),
            ("(ignore_errors=yes) - ", &[]),
            ("", &[]),
        ];
        for (input, want) in cases {
            let want: Vec<(String, bool)> = want.iter().map(|(p, o)| (p.to_string(), *o)).collect();
            assert_eq!(parse_environment_files(input), want, "{input:?}");
        }
    }

    #[test]
    fn unit_file() {
        // Shape of lemonade `data/lemonade-server.service.in@v10.0.0` plus a drop-in.
        let unit = "# comment\n[Unit]\nDescription=Lemonade Server\nAfter=network.target\n\n\
                    [Service]\nUser=lemonade\nExecStart=/opt/bin/lemonade-server serve \\\n  --port 8000 \\\n# inside\n  --no-tray\n\
                    EnvironmentFile=/etc/lemonade/lemonade.conf\n; also comment\nLimitMEMLOCK=infinity\nExecStart=\n\
                    [Install]\nWantedBy=multi-user.target\ntrailing=\\";
        let want: Vec<(String, String, String)> = [
            ("Unit", "Description", "Lemonade Server"),
            ("Unit", "After", "network.target"),
            ("Service", "User", "lemonade"),
            ("Service", "ExecStart", "/opt/bin/lemonade-server serve --port 8000 --no-tray"),
            ("Service", "EnvironmentFile", "/etc/lemonade/lemonade.conf"),
            ("Service", "LimitMEMLOCK", "infinity"),
            ("Service", "ExecStart", ""),
            ("Install", "WantedBy", "multi-user.target"),
            ("Install", "trailing", ""),
        ]
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
        assert_eq!(parse_unit_file(unit), want);

        let garbage = parse_unit_file("Key=before\n[broken\n\u{0}\u{fffd}\n[]\n=x\n");
        assert_eq!(garbage, vec![(String::new(), "Key".into(), "before".into())]);
        assert!(parse_unit_file("").is_empty());
    }
}
