//! Normalise kernel log text (dmesg, `journalctl -k`, syslog) to bare messages.
//!
//! The message catalog the caller matches against is recipes/kernel-log.yaml (e.g.
//! `amdxdna 0000:c7:00.1: [drm] *ERROR* aie2_check_protocol: Incompatible firmware protocol
//! major 7 minor 3`). Prefixes removed: `<N>` priority (`dmesg -r`), `dmesg -x`
//! `facility:level :`, dmesg `[    5.123456]` / `dmesg -T` `[Mon Nov 24 03:00:00 2025]`
//! timestamps, and journalctl `-o short`/`short-precise`/`short-iso`/`short-monotonic` /
//! syslog `DATE HOST IDENT[PID]: ` prefixes. journalctl `-- Boot … --` markers and empty
//! lines are dropped. Callers pass `String::from_utf8_lossy` output; nothing here panics.

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const FACILITIES: [&str; 20] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp", "local0",
    "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];
const LEVELS: [&str; 8] = ["emerg", "alert", "crit", "err", "warn", "notice", "info", "debug"];

/// Strip a `<N>` priority prefix.
fn strip_priority(s: &str) -> &str {
    if let Some(rest) = s.strip_prefix('<')
        && let Some((n, after)) = rest.split_once('>')
        && !n.is_empty()
        && n.len() <= 4
        && n.bytes().all(|b| b.is_ascii_digit())
    {
        return after;
    }
    s
}

/// Strip `dmesg -x` `kern  :err   : `.
fn strip_facility(s: &str) -> &str {
    let mut it = s.splitn(3, ':');
    let (Some(fac), Some(lvl), Some(rest)) = (it.next(), it.next(), it.next()) else {
        return s;
    };
    if FACILITIES.contains(&fac.trim()) && LEVELS.contains(&lvl.trim()) { rest.trim_start() } else { s }
}

/// Strip a leading `[timestamp]`; returns (rest, stripped?).
fn strip_bracket_time(s: &str) -> (&str, bool) {
    let Some(rest) = s.strip_prefix('[') else {
        return (s, false);
    };
    let Some((inner, after)) = rest.split_once(']') else {
        return (s, false);
    };
    let ok = inner.len() <= 40
        && inner.bytes().any(|b| b.is_ascii_digit())
        && inner.bytes().all(|b| b.is_ascii_alphanumeric() || b" .:,+-".contains(&b));
    if ok { (after.trim_start(), true) } else { (s, false) }
}

fn is_clock(t: &str) -> bool {
    let hms = t.split('.').next().unwrap_or("");
    let parts: Vec<&str> = hms.split(':').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Strip a syslog / journalctl date; returns (rest, stripped?).
fn strip_date(s: &str) -> (&str, bool) {
    let words: Vec<&str> = s.splitn(4, ' ').filter(|w| !w.is_empty()).collect();
    // short-iso: `2025-11-24T03:00:00+0100 host kernel: …`
    if let Some(first) = s.split(' ').next() {
        let b = first.as_bytes();
        if b.len() >= 19 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[..4].iter().all(u8::is_ascii_digit) {
            return (s[first.len()..].trim_start(), true);
        }
    }
    // `Nov 24 03:00:00[.123456] host …` (day may be space-padded: `Nov  4`).
    if words.len() >= 3 && MONTHS.contains(&words[0]) {
        let mut it = s.split_whitespace();
        let (_, day, time) = (it.next(), it.next().unwrap_or(""), it.next().unwrap_or(""));
        if day.bytes().all(|b| b.is_ascii_digit()) && !day.is_empty() && is_clock(time) {
            let pos = s.find(time).map(|p| p + time.len()).unwrap_or(s.len());
            return (s[pos..].trim_start(), true);
        }
    }
    (s, false)
}

/// Strip `host ident[pid]: `; with `kernel_only`, only when ident is `kernel`.
fn strip_host_ident(s: &str, kernel_only: bool) -> &str {
    let mut it = s.splitn(3, ' ');
    let (Some(_host), Some(ident), Some(rest)) = (it.next(), it.next(), it.next()) else {
        // `host kernel:` with nothing after.
        return if s.ends_with(':') && s.split(' ').count() == 2 { "" } else { s };
    };
    let Some(name) = ident.strip_suffix(':') else {
        return s;
    };
    let base = name.split('[').next().unwrap_or(name);
    if base.is_empty() || (kernel_only && base != "kernel") {
        return s;
    }
    rest.trim_start()
}

/// Normalise one kernel-log line to its bare message; `None` for a line that carries none
/// (empty, a journalctl `-- Boot … --` marker, a prefix alone). The streaming probe calls it
/// per line, only on lines its byte-level prefilter keeps.
pub fn normalize_line(line: &str) -> Option<&str> {
    let line = line.trim_end();
    let t = line.trim_start();
    if t.starts_with("-- ") && t.ends_with(" --") {
        return None;
    }
    let mut m = strip_facility(strip_priority(t));
    let (after_bracket, had_bracket) = strip_bracket_time(m);
    m = after_bracket;
    if had_bracket {
        m = strip_host_ident(m, true);
    } else {
        let (after_date, had_date) = strip_date(m);
        if had_date {
            m = strip_host_ident(after_date, false);
            let (again, _) = strip_bracket_time(m);
            m = again;
        }
    }
    let m = m.trim();
    (!m.is_empty()).then_some(m)
}

/// Normalise kernel log text to one message per line without timestamps/prefixes.
pub fn normalize_kernel_log(s: &str) -> Vec<String> {
    s.lines().filter_map(normalize_line).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROTO: &str =
        "amdxdna 0000:c7:00.1: [drm] *ERROR* aie2_check_protocol: Incompatible firmware protocol major 7 minor 3";

    #[test]
    fn prefixes() {
        let cases: &[(&str, &[&str])] = &[
            // https://github.com/amd/xdna-driver/issues/1074, as dmesg / journalctl / syslog / dmesg -x / -r / -T.
            (
                "[    5.123456] amdxdna 0000:c7:00.1: [drm] *ERROR* aie2_check_protocol: Incompatible firmware protocol major 7 minor 3",
                &[PROTO],
            ),
            (
                "Nov 24 03:00:00 host kernel: amdxdna 0000:c7:00.1: [drm] *ERROR* aie2_check_protocol: Incompatible firmware protocol major 7 minor 3",
                &[PROTO],
            ),
            (
                "Nov  4 03:00:00.123456 fedora kernel: amdxdna 0000:c7:00.1: [drm] *ERROR* aie2_check_protocol: Incompatible firmware protocol major 7 minor 3",
                &[PROTO],
            ),
            (
                "2025-11-24T03:00:00+0100 host kernel: amdxdna 0000:c7:00.1: [drm] *ERROR* aie2_check_protocol: Incompatible firmware protocol major 7 minor 3",
                &[PROTO],
            ),
            (
                "[    5.123456] host kernel: amdxdna 0000:c7:00.1: [drm] *ERROR* aie2_check_protocol: Incompatible firmware protocol major 7 minor 3",
                &[PROTO],
            ),
            (
                "kern  :err   : [    5.123456] amdxdna 0000:c7:00.1: [drm] *ERROR* aie2_check_protocol: Incompatible firmware protocol major 7 minor 3",
                &[PROTO],
            ),
            (
                "<3>[    5.123456] amdxdna 0000:c7:00.1: [drm] *ERROR* aie2_check_protocol: Incompatible firmware protocol major 7 minor 3",
                &[PROTO],
            ),
            (
                "[Mon Nov 24 03:00:00 2025] amdxdna 0000:c7:00.1: [drm] *ERROR* aie2_check_protocol: Incompatible firmware protocol major 7 minor 3",
                &[PROTO],
            ),
            // Case 11 (no timestamp), message containing `host ident:`-like words kept.
            (
                "amdxdna: loading out-of-tree module taints kernel.\namdxdna 0000:c5:00.1: Direct firmware load for amdnpu/1502_00/npu.sbin failed with error -2\n",
                &[
                    "amdxdna: loading out-of-tree module taints kernel.",
                    "amdxdna 0000:c5:00.1: Direct firmware load for amdnpu/1502_00/npu.sbin failed with error -2",
                ],
            ),
            // userspace ident in journal, boot markers dropped.
            (
                "-- Boot 0123456789abcdef --\nNov 24 03:00:01 host modprobe[812]: modprobe: ERROR: could not insert 'amdxdna': Key was rejected by service\n\n",
                &["modprobe: ERROR: could not insert 'amdxdna': Key was rejected by service"],
            ),
            (
                "[drm] Initialized amdxdna_accel_driver 0.6.0 for 0000:c6:00.1 on minor 0",
                &["[drm] Initialized amdxdna_accel_driver 0.6.0 for 0000:c6:00.1 on minor 0"],
            ),
            ("[   12.000000] AMD-Vi: Unknown option - 'pt'", &["AMD-Vi: Unknown option - 'pt'"]),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_kernel_log(input), *want, "{input:?}");
        }
    }

    #[test]
    fn garbage() {
        let bytes: Vec<u8> = (0u8..=255).chain(b"\n[ 1.0]\n<>\n[\n]".iter().copied()).collect();
        let lossy = String::from_utf8_lossy(&bytes).into_owned();
        for input in [
            "",
            "\n\n   \n",
            "[    5.123456]",
            "[    5.1234",
            "<3>",
            "<12345>x",
            "Nov 24",
            "Nov 24 03:00:00",
            "Nov 24 03:00:00 host kernel:",
            "2025-11-24T03:00:00",
            "kern:err:",
            "\u{0}\u{fffd}",
            lossy.as_str(),
            "é[ 1.0]ü",
        ] {
            let got = normalize_kernel_log(input);
            assert!(got.iter().all(|l| !l.is_empty()), "{input:?}");
        }
        assert!(normalize_kernel_log("[    5.123456]\n").is_empty());
        assert!(normalize_kernel_log("Nov 24 03:00:00 host kernel:").is_empty());
        assert_eq!(normalize_kernel_log("<12345>x"), vec!["<12345>x"]);
    }
}
