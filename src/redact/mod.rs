//! Redaction of what identifies a host or its people, shared by `dev capture-fixture` and
//! `doctor --bundle`: host and domain names, user names, machine and boot ids, DMI serials,
//! UUIDs, MAC, IPv4 and IPv6 addresses, e-mail addresses and secrets (API keys, tokens,
//! passwords, credentials in URLs, bearer tokens, secret-named options such as `--api-key X`
//! and a service's `-p X`, PEM private-key bodies under any file name).
//!
//! It errs on the side of removing: a `NAME=value` whose name merely looks secret loses its
//! value, and a token that looks like an API key is removed wherever it appears. What it
//! keeps is what the probes judge (versions, PCI addresses, kernel-log signatures, paths).
//!
//! Replacements keep a text's shape and are consistent within one [`Redactor`]: a user is
//! always `user1`, the same address always the same documentation address, the same UUID the
//! same placeholder. So a redacted fixture still agrees with itself (home dirs and group
//! members line up, HTTP replay keys match the redacted unit files, boot-entry names match
//! `saved_entry=`), and `doctor` on it reaches the same verdict.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv6Addr;
use std::sync::{Mutex, MutexGuard};

use regex::{Captures, Regex};
use serde::Serialize;

/// The one secret-name rule (it lives in `parse` so the probes can apply it too).
pub use crate::parse::secret::is_secret_name;
use patterns::*;

mod patterns;

/// Replacement for host names.
pub const HOST: &str = "host.example";
/// Replacement for the domain part of a host's fully qualified name.
pub const DOMAIN: &str = "domain.example";
/// Replacement for MAC addresses (a locally administered address).
pub const MAC: &str = "02:00:00:00:00:00";
/// Replacement for secret values.
pub const SECRET: &str = crate::parse::secret::REDACTED;
/// Replacement for serial numbers.
pub const SERIAL: &str = "REDACTED";
/// Replacement for e-mail addresses.
pub const EMAIL: &str = "user@example.invalid";
/// Prefix of UUID placeholders (`00000000-0000-4000-8000-000000000001`, …).
const UUID_PREFIX: &str = "00000000-0000-4000-8000-";

/// Host names that identify nothing: defaults and loopback names.
const GENERIC_HOSTNAMES: &[&str] =
    &["localhost", "localhost.localdomain", "localdomain", "linux", "local", "lan", "home", "(none)"];

/// DMI values vendors ship unfilled; replacing them everywhere would hide nothing.
const GENERIC_DMI: &[&str] = &[
    "to be filled by o.e.m.",
    "default string",
    "system serial number",
    "chassis serial number",
    "base board serial number",
    "not specified",
    "not applicable",
    "none",
    "n/a",
    "unknown",
    "oem",
    "0123456789",
    "123456789",
];

/// Well-known GUIDs (EFI variable vendors, GPT partition types): the same on every machine,
/// and the Secure Boot probe reads a file named after the first one
/// (`SecureBoot-8be4df61-…`, UEFI spec §3.3 "Globally Defined Variables").
const PUBLIC_GUIDS: &[&str] = &[
    "8be4df61-93ca-11d2-aa0d-00e098032b8c", // EFI_GLOBAL_VARIABLE
    "605dab50-e046-4300-abb6-3dd810dd8b23", // shim (MokList, MokSBState)
    "d719b2cb-3d3a-4596-a3bc-dad00e67656f", // EFI_IMAGE_SECURITY_DATABASE (db, dbx)
    "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f", // systemd-boot loader variables
    "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", // GPT EFI system partition
    "bc13c2ff-59e6-4262-a352-b275fd6f7172", // GPT XBOOTLDR partition
    "0fc63daf-8483-4772-8e79-3d69d8477de4", // GPT Linux filesystem
    "4f68bce3-e8cd-4db1-96e7-fbcaf984b709", // GPT root partition (x86-64)
    "00000000-0000-0000-0000-000000000000", // nil
];

/// systemd unit types: `name@instance.<type>` is a unit, not an e-mail address.
const UNIT_SUFFIXES: &[&str] =
    &["service", "socket", "target", "timer", "mount", "automount", "path", "slice", "scope", "device", "swap"];

/// What a redaction removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// API keys, tokens, passwords, credentials (values of secret-named variables too).
    Secret,
    /// The host's own names and domain.
    Hostname,
    /// Login names of real users (passwd uid >= 1000, the target user).
    User,
    /// Real names in passwd's GECOS field.
    RealName,
    /// E-mail addresses.
    Email,
    /// machine-id and boot id.
    MachineId,
    /// Serial numbers and asset tags (DMI, disks, "Serial Number:" lines).
    Serial,
    /// UUIDs (DMI product UUID, file systems, boot ids).
    Uuid,
    /// MAC addresses.
    Mac,
    /// IPv4 addresses (not loopback, unspecified or documentation ranges).
    Ipv4,
    /// IPv6 addresses (not loopback or unspecified).
    Ipv6,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: &'static [Kind] = &[
        Kind::Secret,
        Kind::Hostname,
        Kind::User,
        Kind::RealName,
        Kind::Email,
        Kind::MachineId,
        Kind::Serial,
        Kind::Uuid,
        Kind::Mac,
        Kind::Ipv4,
        Kind::Ipv6,
    ];

    /// What it is, for a manifest.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Secret => "API keys, tokens, passwords (values of *KEY*/*TOKEN*/*SECRET*/*PASSWORD*…)",
            Kind::Hostname => "host and domain names",
            Kind::User => "user names (replaced consistently: user1, user2…)",
            Kind::RealName => "real names (passwd GECOS)",
            Kind::Email => "e-mail addresses",
            Kind::MachineId => "machine and boot ids",
            Kind::Serial => "serial numbers and asset tags (DMI, disks)",
            Kind::Uuid => "UUIDs (DMI, file systems, boot ids)",
            Kind::Mac => "MAC addresses",
            Kind::Ipv4 => "IPv4 addresses",
            Kind::Ipv6 => "IPv6 addresses",
        }
    }
}

/// How many values of one kind a redactor removed, and how many distinct ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    /// What was removed.
    pub kind: Kind,
    /// Replacements made.
    pub occurrences: usize,
    /// Distinct values replaced.
    pub distinct: usize,
}

/// What identifies one host, collected before anything is redacted.
#[derive(Debug, Clone, Default)]
pub struct Identifiers {
    /// The host's names (`etc/hostname`, the kernel's, `uname -n`).
    pub hostnames: Vec<String>,
    /// Real users, in the order their replacements are numbered.
    pub users: Vec<String>,
    /// Other names of a user (a home directory named differently): (alias, user).
    pub aliases: Vec<(String, String)>,
    /// machine-id and boot id (hex, dashes removed).
    pub machine_ids: Vec<String>,
    /// DMI serials, product UUID and asset tags.
    pub serials: Vec<String>,
    /// MAC addresses of the network interfaces.
    pub macs: Vec<String>,
    /// Words never treated as host names (the distro's `ID`, `ID_LIKE`).
    pub generic: Vec<String>,
}

/// One fixed replacement.
#[derive(Debug, Clone)]
struct Replace {
    to: String,
    kind: Kind,
}

/// Numbered replacements and tallies, shared by every text one redactor sees.
#[derive(Debug, Default)]
struct State {
    /// UUID (lowercase) -> placeholder.
    uuids: BTreeMap<String, String>,
    /// Address -> documentation address.
    ipv4: BTreeMap<String, String>,
    ipv6: BTreeMap<String, String>,
    /// Per kind: replacements made, distinct values (lowercase; in memory only).
    tally: BTreeMap<Kind, (usize, BTreeSet<String>)>,
}

/// Redacts texts for one host. The same redactor must see every text of one capture or
/// bundle, so that replacements agree across files.
#[derive(Debug, Default)]
pub struct Redactor {
    /// Whole-word replacements (host names, user names), longest first; ASCII case-insensitive.
    words: Vec<(String, Replace)>,
    /// Substring replacements (ids, serials, MACs without separators), keyed lowercase.
    literals: BTreeMap<String, Replace>,
    /// One case-insensitive alternation of every literal, longest first.
    literal_re: Option<Regex>,
    state: Mutex<State>,
}

impl Redactor {
    /// A redactor for these identifiers. Generic names (`localhost`, the distro ids in
    /// `generic`) are never treated as host names: replacing `fedora` would break `ID=fedora`.
    pub fn new(ids: &Identifiers) -> Self {
        let is_generic = |h: &str| {
            GENERIC_HOSTNAMES.iter().any(|g| g.eq_ignore_ascii_case(h))
                || ids.generic.iter().any(|g| g.eq_ignore_ascii_case(h))
        };
        let mut words: Vec<(String, Replace)> = Vec::new();
        let add = |words: &mut Vec<(String, Replace)>, from: &str, to: &str, kind: Kind| {
            if !from.is_empty() && !words.iter().any(|(w, _)| w.eq_ignore_ascii_case(from)) {
                words.push((from.to_string(), Replace { to: to.to_string(), kind }));
            }
        };
        for h in &ids.hostnames {
            let h = h.trim().trim_end_matches('.');
            if h.is_empty() || is_generic(h) {
                continue;
            }
            add(&mut words, h, HOST, Kind::Hostname);
            if let Some((short, domain)) = h.split_once('.') {
                if !is_generic(short) {
                    add(&mut words, short, HOST, Kind::Hostname);
                }
                // A single label (`lan`, `home`) is too common a word to hide everywhere.
                if domain.contains('.') && !is_generic(domain) {
                    add(&mut words, domain, DOMAIN, Kind::Hostname);
                }
            }
        }
        let mut numbered: Vec<(String, String)> = Vec::new();
        for u in &ids.users {
            let u = u.trim();
            if u.is_empty() || u == "root" || numbered.iter().any(|(n, _)| n == u) {
                continue;
            }
            let to = format!("user{}", numbered.len() + 1);
            numbered.push((u.to_string(), to.clone()));
            add(&mut words, u, &to, Kind::User);
        }
        for (alias, user) in &ids.aliases {
            if let Some((_, to)) = numbered.iter().find(|(n, _)| n == user) {
                add(&mut words, alias, to, Kind::User);
            }
        }
        words.sort_by_key(|w| std::cmp::Reverse(w.0.len()));

        let mut literals = BTreeMap::new();
        for m in &ids.machine_ids {
            let m = m.trim();
            if m.len() >= 16 && m.chars().all(|c| c.is_ascii_hexdigit()) {
                let r = Replace { to: "0".repeat(m.len()), kind: Kind::MachineId };
                literals.insert(m.to_ascii_lowercase(), r);
            }
        }
        for s in &ids.serials {
            let s = s.trim();
            let lower = s.to_ascii_lowercase();
            let uniform = s.chars().all(|c| s.starts_with(c));
            if s.len() >= 5 && !uniform && !GENERIC_DMI.contains(&lower.as_str()) && !is_uuid(s) {
                literals.insert(lower, Replace { to: SERIAL.to_string(), kind: Kind::Serial });
            }
        }
        for m in &ids.macs {
            let hex: String = m.chars().filter(|c| c.is_ascii_hexdigit()).collect();
            if hex.len() == 12 && hex.chars().any(|c| c != '0') && !hex.eq_ignore_ascii_case("ffffffffffff") {
                literals.insert(hex.to_ascii_lowercase(), Replace { to: "020000000000".into(), kind: Kind::Mac });
                literals.insert(m.trim().to_ascii_lowercase(), Replace { to: MAC.into(), kind: Kind::Mac });
            }
        }
        let literal_re = (!literals.is_empty()).then(|| {
            let mut keys: Vec<&String> = literals.keys().collect();
            keys.sort_by_key(|k| std::cmp::Reverse(k.len()));
            let alt: Vec<String> = keys.iter().map(|k| regex::escape(k)).collect();
            // Escaped literals always form a valid pattern.
            Regex::new(&format!("(?i){}", alt.join("|"))).expect("escaped literals")
        });
        Redactor { words, literals, literal_re, state: Mutex::new(State::default()) }
    }

    /// Redacts one text, erring on the side of removing:
    /// - machine/boot ids -> zeros; DMI serials and asset tags -> `REDACTED`, wherever they are;
    /// - values of variables whose name looks secret (see [`is_secret_name`]; shell, env
    ///   files, systemd `Environment=`, JSON, YAML and HTTP headers), bearer/basic
    ///   credentials, credentials in URLs, and tokens by shape (`sk-…`, `hf_…`, `ghp_…`, JWTs,
    ///   AWS key ids) -> `<redacted>`;
    /// - e-mail addresses -> [`EMAIL`];
    /// - serial numbers (`Serial Number:`, `serial=`, `ID_SERIAL…`, disk ids such as
    ///   `ata-…_SERIAL`, `wwn-0x…`) -> `REDACTED`;
    /// - UUIDs other than well-known GUIDs -> numbered placeholders;
    /// - MAC addresses -> [`MAC`];
    /// - IPv4 addresses other than loopback, unspecified, multicast and documentation ranges
    ///   -> numbered documentation addresses (`192.0.2.N`); dotted versions such as firmware
    ///   `1.1.2.65` or `255.0.11.71` survive (see [`Redactor::ipv4`]);
    /// - IPv6 addresses other than `::1` and `::` -> `2001:db8::N`;
    /// - host names -> [`HOST`], their domain -> [`DOMAIN`], users -> `user1`, `user2`…
    pub fn text(&self, text: &str) -> String {
        let s = self.pem(text);
        let s = self.literals(&s);
        let s = self.assignments(&s);
        let s = self.flags(&s);
        let s = self.secret_patterns(&s);
        let s = self.replace_all(&EMAIL_RE, &s, |r, c| {
            let m = &c[0];
            // `user@1000.service`, `getty@tty1.service`: systemd template instances.
            let unit = m.rsplit_once('.').is_some_and(|(_, t)| UNIT_SUFFIXES.contains(&t));
            if m.eq_ignore_ascii_case(EMAIL) || unit {
                return m.to_string();
            }
            r.note(Kind::Email, m);
            EMAIL.to_string()
        });
        let s = self.serials(&s);
        let s = self.uuids(&s);
        let s = self.macs(&s);
        let s = self.ipv4(&s);
        let s = self.ipv6(&s);
        self.words(&s)
    }

    /// `etc/passwd`: the GECOS field (real names, phone numbers) of regular users is emptied,
    /// then the whole text is redacted like any other.
    pub fn passwd(&self, text: &str) -> String {
        let lines: Vec<String> = text
            .lines()
            .map(|l| {
                let mut f: Vec<&str> = l.split(':').collect();
                let regular = f.len() == 7 && f[2].parse::<u32>().is_ok_and(|u| (1000..60000).contains(&u));
                if regular && !f[4].is_empty() {
                    self.note(Kind::RealName, f[4]);
                    f[4] = "";
                }
                f.join(":")
            })
            .collect();
        let mut joined = lines.join("\n");
        if text.ends_with('\n') {
            joined.push('\n');
        }
        self.text(&joined)
    }

    /// Redacts a JSON value in place: every string and key through [`Redactor::text`], the
    /// values of secret-named keys, and the value of `["NAME", "value"]` pairs (how Facts
    /// serialise environments) whose name looks secret. The result is always valid JSON.
    pub fn json(&self, v: &mut serde_json::Value) {
        use serde_json::Value;
        match v {
            Value::String(s) => *s = self.text(s),
            Value::Array(a) => {
                if let [Value::String(name), Value::String(value)] = a.as_mut_slice()
                    && ENV_NAME.is_match(name)
                    && is_secret_name(name)
                    && !value.is_empty()
                    && value != SECRET
                {
                    self.note(Kind::Secret, value);
                    *value = SECRET.to_string();
                } else if let [Value::String(name), Value::String(value)] = a.as_mut_slice()
                    && ENV_NAME.is_match(name)
                {
                    // A service's environment value: its options are a command line's.
                    *value = self.short_p(value);
                }
                a.iter_mut().for_each(|x| self.json(x));
            }
            Value::Object(map) => {
                let old = std::mem::take(map);
                for (k, mut x) in old {
                    match &x {
                        Value::String(s) if is_secret_name(&k) && !s.is_empty() && s != SECRET => {
                            self.note(Kind::Secret, s);
                            x = Value::String(SECRET.to_string());
                        }
                        _ => self.json(&mut x),
                    }
                    map.insert(self.text(&k), x);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// Replacements made so far, per kind (kinds with none left out).
    pub fn counts(&self) -> Vec<Count> {
        let st = self.lock();
        Kind::ALL
            .iter()
            .filter_map(|k| st.tally.get(k).map(|(n, set)| Count { kind: *k, occurrences: *n, distinct: set.len() }))
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-tally; the maps stay usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one replaced value. Values stay in memory only, to count distinct ones.
    fn note(&self, kind: Kind, value: &str) {
        let mut st = self.lock();
        let e = st.tally.entry(kind).or_default();
        e.0 += 1;
        e.1.insert(value.to_ascii_lowercase());
    }

    fn replace_all(&self, re: &Regex, text: &str, f: impl Fn(&Self, &Captures) -> String) -> String {
        re.replace_all(text, |c: &Captures| f(self, c)).into_owned()
    }

    fn literals(&self, text: &str) -> String {
        let Some(re) = &self.literal_re else { return text.to_string() };
        let b = text.as_bytes();
        re.replace_all(text, |c: &Captures| {
            let m = c.get(0).expect("whole match");
            let Some(r) = self.literals.get(&m.as_str().to_ascii_lowercase()) else {
                return m.as_str().to_string();
            };
            // A serial is a token of its own: `12345` must not vanish from inside `6123456`.
            let glued = |i: Option<usize>| i.and_then(|i| b.get(i)).is_some_and(|x| x.is_ascii_alphanumeric());
            if r.kind == Kind::Serial && (glued(m.start().checked_sub(1)) || glued(Some(m.end()))) {
                return m.as_str().to_string();
            }
            self.note(r.kind, m.as_str());
            r.to.clone()
        })
        .into_owned()
    }

    /// `NAME=value` where NAME looks secret: the value (quoted or bare) becomes `<redacted>`.
    /// Names are found anywhere, including inside quoted systemd `Environment="A=1" "B_KEY=x"`
    /// words, because only the name and `=` are matched, never the value.
    fn assignments(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut pos = 0;
        for m in ASSIGN.find_iter(text) {
            if m.start() < pos {
                continue;
            }
            let name = m.as_str().trim_end_matches('=').trim_end();
            if !is_secret_name(name) {
                continue;
            }
            let rest = &text[m.end()..];
            let vlen = match rest.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    rest[1..].find(q).map(|i| i + 2).unwrap_or(rest.find('\n').unwrap_or(rest.len()))
                }
                _ => {
                    rest.find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ';' | '&')).unwrap_or(rest.len())
                }
            };
            let v = &rest[..vlen];
            let inner = v.trim_matches(|c| c == '"' || c == '\'');
            if vlen == 0 || inner.is_empty() || inner == SECRET {
                continue;
            }
            self.note(Kind::Secret, inner);
            out.push_str(&text[pos..m.end()]);
            match v.chars().next() {
                Some(q @ ('"' | '\'')) if v.len() >= 2 && v.ends_with(q) => {
                    out.push(q);
                    out.push_str(SECRET);
                    out.push(q);
                }
                _ => out.push_str(SECRET),
            }
            pos = m.end() + vlen;
        }
        out.push_str(&text[pos..]);
        out
    }

    /// The body of every PEM private-key block (the BEGIN and END lines stay: they say what
    /// was there).
    fn pem(&self, text: &str) -> String {
        self.replace_all(&PEM_PRIVATE, text, |r, c| {
            let body = c[2].trim();
            if body.is_empty() || body == SECRET {
                return c[0].to_string();
            }
            r.note(Kind::Secret, body);
            format!("{}\n{SECRET}\n{}", &c[1], &c[3])
        })
    }

    /// Secrets given as options: `--api-key X`, `--token=X`, `--password "x y"` anywhere (the
    /// option's name judged like a variable's), and `-p X` / `-p=X` on the lines that start a
    /// service (`ExecStart=`, `Environment=`, `systemctl show`'s `argv[]=`).
    fn flags(&self, text: &str) -> String {
        let s = self.replace_all(&FLAG_SECRET, text, |r, c| {
            let (name, v) = (&c[2], &c[3]);
            let lower = name.to_ascii_lowercase();
            // Options that name where a secret is, not the secret.
            let pointer = ["-file", "-path", "-dir", "-stdin", "-fd", "-env", "-cmd", "-command"]
                .iter()
                .any(|suffix| lower.ends_with(suffix));
            let inner = v.trim_matches(|ch| ch == '"' || ch == '\'');
            if !is_secret_name(name) || pointer || inner.is_empty() || inner == SECRET || inner.starts_with('-') {
                return c[0].to_string();
            }
            r.note(Kind::Secret, inner);
            let q = if v.len() >= 2 && (v.starts_with('"') || v.starts_with('\'')) { &v[..1] } else { "" };
            format!("{}{q}{SECRET}{q}", &c[1])
        });
        self.replace_all(&SERVICE_LINE, &s, |r, line| r.short_p(&line[0]))
    }

    /// `-p X` / `-p=X` in text that belongs to a service (a unit's command line or
    /// environment value).
    fn short_p(&self, text: &str) -> String {
        self.replace_all(&SHORT_P, text, |r, c| {
            let inner = c[2].trim_matches(|ch| ch == '"' || ch == '\'');
            if inner.is_empty() || inner == SECRET {
                return c[0].to_string();
            }
            r.note(Kind::Secret, inner);
            format!("{}{SECRET}", &c[1])
        })
    }

    /// Secrets found by their key in JSON, YAML and HTTP headers, or by their shape.
    fn secret_patterns(&self, text: &str) -> String {
        let keep_quotes = |r: &Self, c: &Captures| {
            let (name, v) = (&c[2], &c[3]);
            let (q, inner) = match v.chars().next() {
                Some(q @ ('"' | '\'')) if v.len() >= 2 => (q.to_string(), &v[1..v.len() - 1]),
                _ => (String::new(), v),
            };
            if !is_secret_name(name) || inner.is_empty() || inner == SECRET {
                return c[0].to_string();
            }
            r.note(Kind::Secret, inner);
            format!("{}{q}{SECRET}{q}", &c[1])
        };
        let s = self.replace_all(&JSON_SECRET, text, |r, c| keep_quotes(r, c));
        let s = self.replace_all(&YAML_SECRET, &s, |r, c| keep_quotes(r, c));
        let s = self.replace_all(&HEADER_SECRET, &s, |r, c| {
            r.note(Kind::Secret, &c[2]);
            format!("{}{SECRET}", &c[1])
        });
        let s = self.replace_all(&BEARER, &s, |r, c| {
            if &c[2] == SECRET {
                return c[0].to_string();
            }
            r.note(Kind::Secret, &c[2]);
            format!("{}{SECRET}", &c[1])
        });
        let s = self.replace_all(&URL_CREDENTIALS, &s, |r, c| {
            r.note(Kind::Secret, &c[2]);
            format!("{}{SECRET}@", &c[1])
        });
        self.replace_all(&TOKEN_SHAPES, &s, |r, c| {
            r.note(Kind::Secret, &c[0]);
            SECRET.to_string()
        })
    }

    fn serials(&self, text: &str) -> String {
        let s = self.replace_all(&SERIAL_RE, text, |r, c| {
            let whole = c.get(0).expect("whole match");
            let key =
                c[1].trim_end_matches(|ch: char| ch.is_whitespace() || ch == ':' || ch == '"').to_ascii_lowercase();
            let quoted_key = whole.start() > 0 && text.as_bytes()[whole.start() - 1] == b'"';
            // A bare `Serial:` is the kernel's serial-port driver line ("Serial: 8250/16550
            // driver"); serial numbers come qualified (`Serial Number:`, `product_serial:`),
            // as `serial=`, or as a JSON key.
            if key == "serial" && c[1].contains(':') && !quoted_key {
                return whole.as_str().to_string();
            }
            let v = &c[2];
            let q = if v.starts_with('"') || v.starts_with('\'') { &v[..1] } else { "" };
            let inner = v.trim_matches(|ch| ch == '"' || ch == '\'');
            if inner == SERIAL || inner.is_empty() {
                return whole.as_str().to_string();
            }
            r.note(Kind::Serial, inner);
            format!("{}{q}{SERIAL}{q}", &c[1])
        });
        let s = self.replace_all(&DISK_ID, &s, |r, c| {
            if &c[2] == SERIAL {
                return c[0].to_string();
            }
            r.note(Kind::Serial, &c[2]);
            format!("{}{SERIAL}", &c[1])
        });
        self.replace_all(&WWN, &s, |r, c| {
            if &c[2] == SERIAL {
                return c[0].to_string();
            }
            r.note(Kind::Serial, &c[2]);
            format!("{}{SERIAL}", &c[1])
        })
    }

    /// UUIDs become numbered placeholders, the same UUID always the same placeholder (a
    /// `root=UUID=` in the running cmdline still equals the one in the boot entries).
    fn uuids(&self, text: &str) -> String {
        self.replace_all(&UUID_RE, text, |r, c| {
            let u = c[0].to_ascii_lowercase();
            if u.starts_with(UUID_PREFIX) || PUBLIC_GUIDS.contains(&u.as_str()) {
                return c[0].to_string();
            }
            r.note(Kind::Uuid, &u);
            let mut st = r.lock();
            let n = st.uuids.len() + 1;
            st.uuids.entry(u).or_insert_with(|| format!("{UUID_PREFIX}{n:012}")).clone()
        })
    }

    /// Six hex octets separated by `:` or `-`, standing alone: longer runs (module signature
    /// `sig_key`s, Subject Key Identifiers) and PCI addresses are left alone.
    fn macs(&self, text: &str) -> String {
        let b = text.as_bytes();
        self.replace_all(&HEX_RUN, text, |r, c| {
            let m = c.get(0).expect("whole match");
            let s = m.as_str();
            let sep = s.as_bytes()[2];
            let uniform = s.bytes().skip(2).step_by(3).all(|x| x == sep);
            let before = m.start().checked_sub(1).map(|i| b[i]);
            let after = b.get(m.end()).copied();
            let glued = |x: Option<u8>| x.is_some_and(|x| x.is_ascii_hexdigit() || x == b':');
            if s.len() == 17 && uniform && !glued(before) && !glued(after) && s != MAC {
                r.note(Kind::Mac, s);
                MAC.to_string()
            } else {
                s.to_string()
            }
        })
    }

    /// IPv4 addresses, told apart from dotted versions: four octets <= 255, not glued to a
    /// word or another dot-number (`npu.sbin.1.1.2.65`, `v1.2.3.4`, `1.2.3.4.5`), first
    /// octet not 0, 127 or >= 224 (firmware versions start with 1 or 255; those are no
    /// unicast addresses anyway), first octet 1 only in a URL or with a port or prefix, and
    /// not right after `Release`/`version`/`fw` unless it is in a URL or has a port.
    fn ipv4(&self, text: &str) -> String {
        let b = text.as_bytes();
        self.replace_all(&IPV4_RE, text, |r, c| {
            let m = c.get(0).expect("whole match");
            let keep = m.as_str().to_string();
            let octets: Vec<u32> = (1..=4).filter_map(|i| c[i].parse().ok()).collect();
            if octets.len() != 4 || octets.iter().any(|o| *o > 255) {
                return keep;
            }
            let doc = matches!(octets[..3], [192, 0, 2] | [198, 51, 100] | [203, 0, 113]);
            if matches!(octets[0], 0 | 127) || octets[0] >= 224 || doc {
                return keep;
            }
            let before = m.start().checked_sub(1).map(|i| b[i]);
            let after = b.get(m.end()).copied();
            let after2 = b.get(m.end() + 1).copied();
            if before.is_some_and(|x| x.is_ascii_alphanumeric() || x == b'.' || x == b'_')
                || (after == Some(b'.') && after2.is_some_and(|x| x.is_ascii_digit()))
            {
                return keep;
            }
            let line_start = text[..m.start()].rfind('\n').map(|i| i + 1).unwrap_or(0);
            let ctx_start = m.start().saturating_sub(24).max(line_start);
            let ctx = text.get(ctx_start..m.start()).unwrap_or("").to_ascii_lowercase();
            let networky = ctx.ends_with("//") || ctx.ends_with('@') || after == Some(b':') || after == Some(b'/');
            let versiony = ["release", "version", "fw", "firmware", "ver "].iter().any(|k| ctx.contains(k));
            if (versiony || octets[0] == 1) && !networky {
                return keep;
            }
            r.note(Kind::Ipv4, &keep);
            let mut st = r.lock();
            let n = st.ipv4.len() + 1;
            st.ipv4.entry(keep).or_insert_with(|| documentation_ipv4(n)).clone()
        })
    }

    /// IPv6 addresses: runs of hex digits, colons and dots that parse as an address, not
    /// glued to a word (`amdxdna::aie2` is no address; timestamps and MACs do not parse).
    fn ipv6(&self, text: &str) -> String {
        let b = text.as_bytes();
        self.replace_all(&IPV6_RUN, text, |r, c| {
            let m = c.get(0).expect("whole match");
            let whole = m.as_str();
            let glued = |x: Option<&u8>| x.is_some_and(|x| x.is_ascii_alphanumeric() || *x == b'_');
            if whole.matches(':').count() < 2
                || glued(m.start().checked_sub(1).and_then(|i| b.get(i)))
                || glued(b.get(m.end()))
            {
                return whole.to_string();
            }
            // Trailing punctuation (`fe80::1.` ending a sentence, `addr fe80::1:`) is not
            // part of the address, unless the address ends in `::`.
            let trimmed = whole.trim_end_matches(['.', ':']);
            let Some((cand, addr)) =
                [whole, trimmed].into_iter().find_map(|c| c.parse::<Ipv6Addr>().ok().map(|a| (c, a)))
            else {
                return whole.to_string();
            };
            let seg = addr.segments();
            if addr.is_loopback() || addr.is_unspecified() || (seg[0] == 0x2001 && seg[1] == 0x0db8) {
                return whole.to_string();
            }
            r.note(Kind::Ipv6, cand);
            let mut st = r.lock();
            let n = st.ipv6.len() + 1;
            let to = st.ipv6.entry(addr.to_string()).or_insert_with(|| format!("2001:db8::{n:x}")).clone();
            format!("{to}{}", &whole[cand.len()..])
        })
    }

    /// Replaces whole words (ASCII case-insensitive) in one left-to-right pass, so a
    /// replacement is never itself replaced (`bob` -> `user1` while `user1` -> `user2`).
    fn words(&self, text: &str) -> String {
        if self.words.is_empty() {
            return text.to_string();
        }
        let b = text.as_bytes();
        let mut out: Vec<u8> = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            let at_start = i == 0 || !is_word_byte(b[i - 1]);
            if at_start {
                let hit = self.words.iter().find(|(w, _)| {
                    let w = w.as_bytes();
                    b.len() >= i + w.len()
                        && b[i..i + w.len()].eq_ignore_ascii_case(w)
                        && b.get(i + w.len()).is_none_or(|x| !is_word_byte(*x))
                });
                if let Some((w, r)) = hit {
                    self.note(r.kind, w);
                    out.extend_from_slice(r.to.as_bytes());
                    i += w.len();
                    continue;
                }
            }
            out.push(b[i]);
            i += 1;
        }
        // Matches start and end on character boundaries (they follow a non-word byte and are
        // whole UTF-8 strings), so this never fails; stay total anyway.
        String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

#[cfg(test)]
mod tests;
