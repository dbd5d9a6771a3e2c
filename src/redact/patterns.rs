//! The patterns redaction matches (secrets by name and shape, identifiers by form) and the
//! small helpers around them; the rules that use them live in `redact/mod.rs`.

use std::sync::LazyLock;

use regex::Regex;

/// The n-th (1-based) documentation address: 192.0.2.0/24, then 198.51.100.0/24, then
/// 203.0.113.0/24 (RFC 5737); past 762 addresses the last one repeats.
pub(super) fn documentation_ipv4(n: usize) -> String {
    match n {
        0..=254 => format!("192.0.2.{}", n.max(1)),
        255..=508 => format!("198.51.100.{}", n - 254),
        _ => format!("203.0.113.{}", (n - 508).min(254)),
    }
}

pub(super) fn is_uuid(s: &str) -> bool {
    UUID_RE.find(s).is_some_and(|m| m.as_str().len() == s.len())
}

/// Characters that continue a name: a match must not be glued to them on either side.
pub(super) fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

pub(super) fn re(pattern: &str) -> Regex {
    // The patterns are literals of this file, exercised by redact/tests.rs.
    Regex::new(pattern).expect("static regex")
}

pub(super) static ASSIGN: LazyLock<Regex> = LazyLock::new(|| re(r"[A-Za-z_][A-Za-z0-9_]*\s*="));
/// An environment variable's name (Facts' `["NAME", "value"]` pairs; not `libkeyutils.so.1`).
pub(super) static ENV_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[A-Za-z_][A-Za-z0-9_]*$"));
/// `"name": "value"` (JSON); the name is judged by [`is_secret_name`].
pub(super) static JSON_SECRET: LazyLock<Regex> = LazyLock::new(|| re(r#"("([A-Za-z0-9_.-]*)"\s*:\s*)("[^"\n]*")"#));
/// `name: value` at the start of a line (YAML, config files), unquoted names only (quoted
/// ones are JSON above); the value keeps its quotes.
pub(super) static YAML_SECRET: LazyLock<Regex> =
    LazyLock::new(|| re(r#"(?m)^(\s*-?\s*([A-Za-z0-9_.-]+)\s*:[ \t]+)("[^"\n]*"|'[^'\n]*'|[^\s"'#][^\n#]*)"#));
/// HTTP headers that carry credentials, anywhere (`curl -H "Authorization: …"`).
pub(super) static HEADER_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r#"(?i)(\b(?:proxy-)?authorization\s*:\s*|\bx-api-key\s*:\s*|\bx-auth-token\s*:\s*|\bcookie\s*:\s*)([^\s"'<][^"'\r\n]*)"#,
    )
});
/// `Bearer …` anywhere; `Basic …` only capitalised (lowercase "basic" is prose).
pub(super) static BEARER: LazyLock<Regex> =
    LazyLock::new(|| re(r"(\b(?:[Bb]earer|BEARER|Basic)\s+)([A-Za-z0-9._~+/=-]{8,})"));
pub(super) static URL_CREDENTIALS: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)(\b[a-z][a-z0-9+.-]*://)([^/\s:@<>]+:[^/\s@<>]+)@"));
/// API tokens by shape: OpenAI-style `sk-`, HuggingFace `hf_`, GitHub `ghp_`…/`github_pat_`,
/// GitLab `glpat-`, Slack `xox?-`, AWS access key ids, JWTs.
pub(super) static TOKEN_SHAPES: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"\b(?:sk|pk|ghp|gho|ghs|ghu|ghr|hf|glpat|xox[abprs])[-_][A-Za-z0-9_-]{8,}",
        r"|\bgithub_pat_[A-Za-z0-9_]{20,}",
        r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
        r"|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
    ))
});
pub(super) static EMAIL_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"));
pub(super) static SERIAL_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r#"(?i)(\b[a-z_]*(?:serial|asset[ _-]?tag)(?:[ _-]?(?:number|no|num|short))*"?\s*[:=]\s*)("[^"\n]*"|'[^'\n]*'|[^\s,;"']+)"#,
    )
});
pub(super) static DISK_ID: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b((?:ata|nvme|scsi-[0-9a-z]+|usb|mmc|virtio)-[A-Za-z0-9_.:-]*_)([A-Za-z0-9]+)"));
pub(super) static WWN: LazyLock<Regex> = LazyLock::new(|| re(r"\b(wwn-0x|nvme-eui\.)([0-9A-Fa-f]+)"));
pub(super) static UUID_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\b"));
pub(super) static HEX_RUN: LazyLock<Regex> = LazyLock::new(|| re(r"[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2})+"));
pub(super) static IPV4_RE: LazyLock<Regex> = LazyLock::new(|| re(r"\b(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b"));
pub(super) static IPV6_RUN: LazyLock<Regex> = LazyLock::new(|| re(r"[0-9A-Fa-f:][0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*"));
/// A PEM private-key block of any kind (`RSA`, `EC`, `ENCRYPTED`, OpenSSH…), under whatever
/// file name it sits; an unterminated block runs to the end of the text.
pub(super) static PEM_PRIVATE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?s)(-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----)(.*?)(-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)"));
/// A long option and its value, `--api-key X`, `--token=X`, `--password "x y"`: the option
/// name is judged by [`super::is_secret_name`]. Preceded by the start, a space, a quote,
/// `=` or `[` (systemd's `argv[]=`).
pub(super) static FLAG_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    re(r#"(?m)((?:^|[\s"'=\[])--([A-Za-z][A-Za-z0-9_.-]*)(?:=|[ \t]+))("[^"\n]*"|'[^'\n]*'|[^\s"';]+)"#)
});
/// `-p X`, `-p=X` (a password in mysql-style tools): only on the lines that start a service
/// (`ExecStart…=`, `Environment=`, systemd's `argv[]=`), where `-p` is almost always one.
pub(super) static SHORT_P: LazyLock<Regex> =
    LazyLock::new(|| re(r#"((?:^|[\s"'=])-p(?:[ \t]+|=))("[^"\n]*"|'[^'\n]*'|[^\s"';-][^\s"';]*)"#));
/// The lines [`SHORT_P`] applies to.
pub(super) static SERVICE_LINE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?m)^[ \t]*(?:Exec[A-Za-z]*|Environment)\s*=.*$|argv\[\]=[^;\n]*"));
