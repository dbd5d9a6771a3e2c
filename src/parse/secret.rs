//! Whether a variable, key or header name holds a secret: the one rule the support bundle's
//! redaction (`redact`, which re-exports it) and the probes (a unit's environment in the
//! facts) both apply. A pure function of a name, so it lives with the parsers every layer
//! may use.

/// What a secret's value is replaced with.
pub const REDACTED: &str = "<redacted>";

/// Names that contain a secret-looking word but hold public identifiers the checks compare:
/// `sig_key` (modinfo) is matched against the enrolled MOK's Subject Key Identifier.
const PUBLIC_NAMES: &[&str] = &["SIG_KEY", "SIG_HASHALGO", "API_KEY_SET"];

/// Whether a variable, key or header name looks like it holds a secret. Broad on purpose:
/// it contains KEY, TOKEN, SECRET, PASSWORD, PASSWD, PASSPHRASE, CREDENTIAL, AUTHORIZATION,
/// COOKIE or BEARER, or one of its `_`/`-`/`.`-separated parts is PASS, PWD, PW, AUTH, CRED,
/// CREDS or SESSION (ASCII case ignored). Public key identifiers the checks compare
/// (`sig_key`) are exempt.
pub fn is_secret_name(name: &str) -> bool {
    let up = name.trim().to_ascii_uppercase().replace('-', "_");
    if PUBLIC_NAMES.contains(&up.as_str()) {
        return false;
    }
    const PARTS: &[&str] = &[
        "KEY",
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "PASSPHRASE",
        "CREDENTIAL",
        "AUTHORIZATION",
        "COOKIE",
        "BEARER",
    ];
    const WORDS: &[&str] = &["PASS", "PWD", "PW", "AUTH", "CRED", "CREDS", "SESSION"];
    PARTS.iter().any(|p| up.contains(p)) || up.split(['_', '.']).any(|w| WORDS.contains(&w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for (name, secret) in [
            ("LEMONADE_API_KEY", true),
            ("HF_TOKEN", true),
            ("GPG_PASSPHRASE", true),
            ("db.pass", true),
            ("X-Auth-Token", true),
            ("Cookie", true),
            ("MY_PW", true),
            ("CREDS", true),
            ("jwt_bearer", true),
            ("SIG_KEY", false),
            ("sig-hashalgo", false),
            ("COMPASS", false),
            ("PATH", false),
            ("FLM_MODEL_PATH", false),
            ("LEMONADE_HOST", false),
        ] {
            assert_eq!(is_secret_name(name), secret, "{name}");
        }
    }
}
