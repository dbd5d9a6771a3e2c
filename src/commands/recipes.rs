//! Which recipes every command uses, and `npu-setup recipes show|update`.
//!
//! Order: `--data-dir` (unsigned, for development) > the bundle `recipes update` stored under
//! `/var/lib/npu-setup/recipes` (signature verified again at every load, used only when it is
//! newer than the built-in copy, so upgrading the binary never leaves older stored knowledge in
//! charge) > the copy built into the binary. A stored bundle that fails any check is passed
//! over with a warning naming it: a corrupt download never stops doctor, install or the kernel
//! hook.
//!
//! The store: `npu-setup-recipes-<version>.tar.gz` and its `.minisig` beside it, and `current`
//! naming the bundle in use. The bundle files are written first, then `current` is replaced
//! atomically: a crash leaves either the old bundle in charge or the new one, never half of one.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use crate::cli::{Cli, RecipesCommand, RecipesUpdateArgs};
use crate::fsx::Perms;
use crate::knowledge::freshness::{Freshness, MAX_AGE_DAYS, days, freshness};
use crate::net::http::{Client, Timeouts};
use crate::recipes::bundle::{self, BundleError, TrustedKey};
use crate::recipes::meta::{Date, Meta};
use crate::recipes::{Recipes, RecipesCopy};
use crate::report::{emit, exit};
use crate::root::{Root, RootMode};
use crate::state::StateDir;

/// Where `recipes update` stores bundles (root-relative).
pub const STORE_DIR: &str = "var/lib/npu-setup/recipes";
/// The file naming the stored bundle in use.
const CURRENT: &str = "current";
/// Stored bundles are `<PREFIX><version>.tar.gz`.
const PREFIX: &str = "npu-setup-recipes-";

/// The stored bundle as found on this root.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Stored {
    /// Nothing stored.
    Absent,
    /// Verified and loadable.
    Valid {
        /// Host view of the bundle file.
        path: String,
        /// Its version.
        version: String,
        /// Its date.
        as_of: String,
    },
    /// Present but unusable (signature, truncation, schema, data): the reason.
    Invalid {
        /// Host view of what was read.
        path: String,
        /// Why it is not used.
        reason: String,
    },
}

/// The recipes a command uses and how they were chosen.
pub struct Selection {
    /// The copy in use.
    pub recipes: Recipes,
    /// The built-in copy's metadata.
    pub builtin: Meta,
    /// The stored bundle (`None` when `--data-dir` made looking unnecessary).
    pub stored: Option<Stored>,
    /// Why a valid stored bundle is not the copy in use, if it is not.
    pub passed_over: Option<String>,
}

/// The recipes for this command (see the module documentation).
pub fn select(root: &Root, data_dir: Option<&Path>) -> Result<Selection> {
    let builtin = Recipes::embedded_meta()?;
    if let Some(d) = data_dir {
        let recipes = Recipes::from_dir(d).with_context(|| format!("loading data from {}", d.display()))?;
        return Ok(Selection { recipes, builtin, stored: None, passed_over: None });
    }
    let (stored, loaded) = load_stored(root);
    if let Stored::Invalid { path, reason } = &stored {
        tracing::warn!("not using the stored recipes bundle {path}: {reason}; using the built-in copy");
    }
    let (recipes, passed_over) = match loaded {
        Some(r) if r.meta.cmp_age(&builtin).is_gt() => (r, None),
        Some(r) => {
            let why = format!(
                "the stored bundle {} (as of {}) is not newer than the built-in copy {} (as of {})",
                r.meta.version, r.meta.as_of, builtin.version, builtin.as_of
            );
            tracing::debug!("{why}; using the built-in copy");
            (Recipes::embedded()?, Some(why))
        }
        None => (Recipes::embedded()?, None),
    };
    Ok(Selection { recipes, builtin, stored: Some(stored), passed_over })
}

/// Reads and verifies the stored bundle.
fn load_stored(root: &Root) -> (Stored, Option<Recipes>) {
    let current_rel = format!("{STORE_DIR}/{CURRENT}");
    let invalid = |path: String, reason: String| (Stored::Invalid { path, reason }, None);
    let name = match root.read_optional(&current_rel) {
        Ok(None) => return (Stored::Absent, None),
        Ok(Some(t)) => t.trim().to_string(),
        Err(e) => return invalid(Root::display(&current_rel), format!("{e:#}")),
    };
    if !(name.starts_with(PREFIX) && name.ends_with(".tar.gz") && !name.contains('/')) {
        return invalid(Root::display(&current_rel), format!("it names {name:?}, not a stored bundle"));
    }
    let rel = format!("{STORE_DIR}/{name}");
    let path = Root::display(&rel);
    let read = |rel: &str| -> Result<Vec<u8>, String> {
        match root.read_bytes_optional(rel) {
            Ok(Some(b)) => Ok(b),
            Ok(None) => Err(format!("{} is missing", Root::display(rel))),
            Err(e) => Err(format!("{e:#}")),
        }
    };
    let sig_rel = format!("{rel}{}", bundle::SIG_SUFFIX);
    let (bytes, sig) = match (read(&rel), read(&sig_rel)) {
        (Ok(b), Ok(s)) => (b, s),
        (Err(e), _) | (_, Err(e)) => return invalid(path, e),
    };
    let key = match trusted_key() {
        Ok(k) => k,
        Err(e) => return invalid(path, e.to_string()),
    };
    match bundle::open(&bytes, &String::from_utf8_lossy(&sig), &key, &path) {
        Ok(r) => {
            (Stored::Valid { path, version: r.meta.version.to_string(), as_of: r.meta.as_of.to_string() }, Some(r))
        }
        Err(e) => invalid(path, e.to_string()),
    }
}

/// The trusted key, announcing a test override (debug builds only) on stderr.
fn trusted_key() -> Result<TrustedKey, BundleError> {
    static ANNOUNCED: std::sync::Once = std::sync::Once::new();
    let k = TrustedKey::get()?;
    if k.test_override {
        ANNOUNCED.call_once(|| {
            tracing::warn!("debug build: trusting the recipes key in {} ({})", bundle::TEST_KEY_ENV, k.base64)
        });
    }
    Ok(k)
}

/// Today's date for judging the recipes' age: the system clock's (UTC), or on a fixture tree
/// the `today:` its `.fixture.yaml` replays (none: no age is judged).
pub fn today(root: &Root) -> Result<Option<Date>> {
    if root.mode() != RootMode::Fixture {
        return Ok(Some(Date::today()));
    }
    match root.fixture().and_then(|f| f.today.as_deref()) {
        None => Ok(None),
        Some(t) => {
            Date::parse(t).map(Some).map_err(|e| anyhow!("{}: today: {e}", root.join(".fixture.yaml").display()))
        }
    }
}

/// Runs `recipes show|update`.
pub fn run(cli: &Cli, command: &RecipesCommand) -> Result<i32> {
    match command {
        RecipesCommand::Show => show(cli),
        RecipesCommand::Update(args) => update(cli, args),
    }
}

/// One copy's identity in the documents.
#[derive(Debug, Serialize)]
struct CopyDoc {
    copy: RecipesCopy,
    origin: String,
    version: String,
    as_of: String,
    schema: u32,
}

impl CopyDoc {
    fn of(r: &Recipes) -> Self {
        CopyDoc {
            copy: r.copy,
            origin: r.origin.clone(),
            version: r.meta.version.to_string(),
            as_of: r.meta.as_of.to_string(),
            schema: r.meta.schema,
        }
    }
}

/// `apiVersion: npu-setup/v1`, `kind: Recipes`: the copy in use and the others.
#[derive(Debug, Serialize)]
struct ShowDoc {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    in_use: CopyDoc,
    age_days: Option<i64>,
    stale: bool,
    max_age_days: i64,
    built_in: BuiltInDoc,
    stored: Stored,
    #[serde(skip_serializing_if = "Option::is_none")]
    passed_over: Option<String>,
    update: String,
}

#[derive(Debug, Serialize)]
struct BuiltInDoc {
    version: String,
    as_of: String,
    schema: u32,
}

fn show(cli: &Cli) -> Result<i32> {
    let root = Root::open(&cli.root)?;
    let sel = select(&root, cli.data_dir.as_deref())?;
    // With --data-dir the stored bundle is not consulted for use, but show still reports it.
    let stored = sel.stored.clone().unwrap_or_else(|| load_stored(&root).0);
    let fresh = freshness(&sel.recipes.meta, today(&root)?);
    let age_days = match fresh {
        Freshness::Fresh { age_days } | Freshness::Stale { age_days } => Some(age_days),
        Freshness::Ahead { days_ahead } => Some(-days_ahead),
        Freshness::NoClock => None,
    };
    let doc = ShowDoc {
        api_version: "npu-setup/v1",
        kind: "Recipes",
        in_use: CopyDoc::of(&sel.recipes),
        age_days,
        stale: matches!(fresh, Freshness::Stale { .. }),
        max_age_days: MAX_AGE_DAYS,
        built_in: BuiltInDoc {
            version: sel.builtin.version.to_string(),
            as_of: sel.builtin.as_of.to_string(),
            schema: sel.builtin.schema,
        },
        stored,
        passed_over: sel.passed_over,
        update: format!("sudo npu-setup recipes update   (default source: {})", bundle::DEFAULT_BUNDLE_URL),
    };
    let mut out = std::io::stdout().lock();
    emit(&mut out, cli.format, "recipes show", &doc, |w| render_show(w, &doc), None)?;
    Ok(exit::OK)
}

fn render_show(w: &mut dyn Write, d: &ShowDoc) -> Result<()> {
    let which = match d.in_use.copy {
        RecipesCopy::BuiltIn => "the built-in copy".to_string(),
        RecipesCopy::Stored => format!("the stored bundle {}", d.in_use.origin),
        RecipesCopy::DataDir => format!("--data-dir {}", d.in_use.origin),
    };
    writeln!(w, "recipes in use: {which}")?;
    writeln!(w, "  version {}, facts as of {}, schema {}", d.in_use.version, d.in_use.as_of, d.in_use.schema)?;
    match d.age_days {
        Some(a) if a < 0 => writeln!(w, "  dated {} after this host's clock (is the clock right?)", days(-a))?,
        Some(a) if d.stale => {
            writeln!(w, "  {} old: older than {} days, update them (doctor warns)", days(a), d.max_age_days)?
        }
        Some(a) => writeln!(w, "  {} old (doctor warns after {} days)", days(a), d.max_age_days)?,
        None => writeln!(w, "  age not judged: this fixture tree replays no clock")?,
    }
    writeln!(w, "built-in copy: version {}, facts as of {}", d.built_in.version, d.built_in.as_of)?;
    match &d.stored {
        Stored::Absent => writeln!(w, "stored bundle: none (under /{STORE_DIR})")?,
        Stored::Valid { path, version, as_of } => {
            writeln!(w, "stored bundle: {path}, version {version}, facts as of {as_of}, signature verified")?
        }
        Stored::Invalid { path, reason } => writeln!(w, "stored bundle: {path} is not used: {reason}")?,
    }
    if let Some(p) = &d.passed_over {
        writeln!(w, "  not in use: {p}")?;
    }
    writeln!(w, "update: {}", d.update)?;
    Ok(())
}

/// What `recipes update` did: `apiVersion: npu-setup/v1`, `kind: RecipesUpdate`.
#[derive(Debug, Serialize)]
struct UpdateDoc {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    from: String,
    bundle: CopyDoc,
    previous: CopyDoc,
    /// `stored`, `up-to-date` or `dry-run`.
    result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    stored_at: Option<String>,
}

fn update(cli: &Cli, args: &RecipesUpdateArgs) -> Result<i32> {
    if cli.data_dir.is_some() {
        bail!(
            "recipes update stores a signed bundle under /{STORE_DIR}; it does not change a --data-dir (edit that directory instead)"
        );
    }
    let root = Root::open(&cli.root)?;
    let key = trusted_key()?;
    let url = args.from.as_deref().unwrap_or(bundle::DEFAULT_BUNDLE_URL);
    let sig_url = format!("{url}{}", bundle::SIG_SUFFIX);
    let bytes = fetch(url, bundle::MAX_BUNDLE_BYTES).with_context(|| {
        let offline = if url.starts_with("http://") || url.starts_with("https://") {
            " (without a network: fetch it and its .minisig elsewhere, then pass --from PATH)"
        } else {
            ""
        };
        format!("downloading the recipes bundle {url}{offline}")
    })?;
    let sig = fetch(&sig_url, bundle::MAX_SIG_BYTES).with_context(|| format!("downloading its signature {sig_url}"))?;
    let sig =
        String::from_utf8(sig).map_err(|_| anyhow!("refusing the recipes bundle {url}: {sig_url} is not text"))?;
    let new = bundle::open(&bytes, &sig, &key, url).map_err(|e| anyhow!("refusing the recipes bundle {url}: {e}"))?;
    // Compared with the copy in use under the lock, so two updates cannot both pass the
    // rollback check; a dry run takes no lock (it writes nothing, not even the lock file).
    let lock = if args.dry_run { None } else { Some(StateDir::lock(&root)?) };
    let current = select(&root, None)?.recipes;
    if let Some(why) = new.meta.rollback_from(&current.meta) {
        bail!(
            "refusing the recipes bundle {url}: it would roll back the recipes in use ({why}; in use: {})",
            describe(&current)
        );
    }
    let mut doc = UpdateDoc {
        api_version: "npu-setup/v1",
        kind: "RecipesUpdate",
        from: url.to_string(),
        bundle: CopyDoc::of(&new),
        previous: CopyDoc::of(&current),
        result: "up-to-date",
        stored_at: None,
    };
    if new.meta.cmp_age(&current.meta).is_gt() {
        if args.dry_run {
            doc.result = "dry-run";
        } else {
            let path = store(&root, &new, &bytes, sig.as_bytes())?;
            doc.result = "stored";
            doc.stored_at = Some(path);
        }
    }
    drop(lock);
    let mut out = std::io::stdout().lock();
    emit(&mut out, cli.format, "recipes update", &doc, |w| render_update(w, &doc), None)?;
    Ok(exit::OK)
}

fn describe(r: &Recipes) -> String {
    match r.copy {
        RecipesCopy::BuiltIn => format!("built-in {} as of {}", r.meta.version, r.meta.as_of),
        RecipesCopy::Stored => format!("stored {} as of {} at {}", r.meta.version, r.meta.as_of, r.origin),
        RecipesCopy::DataDir => format!("{} as of {} from {}", r.meta.version, r.meta.as_of, r.origin),
    }
}

fn render_update(w: &mut dyn Write, d: &UpdateDoc) -> Result<()> {
    let b = &d.bundle;
    match d.result {
        "stored" => {
            writeln!(w, "stored recipes {} (facts as of {}) from {}", b.version, b.as_of, d.from)?;
            writeln!(w, "  at {}; signature verified", d.stored_at.as_deref().unwrap_or_default())?;
            writeln!(w, "  replaces {} {} (as of {})", d.previous.copy.as_str(), d.previous.version, d.previous.as_of)?;
            writeln!(w, "doctor and install use it from now on (`npu-setup recipes show`)")?;
        }
        "dry-run" => {
            writeln!(w, "would store recipes {} (facts as of {}) from {}", b.version, b.as_of, d.from)?;
            writeln!(
                w,
                "  signature verified; replaces {} {} (dry run: nothing written)",
                d.previous.copy.as_str(),
                d.previous.version
            )?;
        }
        _ => writeln!(
            w,
            "recipes {} from {} are already in use ({} copy, facts as of {}): nothing to do",
            b.version,
            d.from,
            d.previous.copy.as_str(),
            d.previous.as_of
        )?,
    }
    Ok(())
}

/// Writes the bundle and its signature, then switches `current` to it, removes older stored
/// bundles, and loads the result back to prove it is what the next command will use.
fn store(root: &Root, new: &Recipes, bytes: &[u8], sig: &[u8]) -> Result<String> {
    let name = format!("{PREFIX}{}.tar.gz", new.meta.version);
    let rel = format!("{STORE_DIR}/{name}");
    let file = Perms::Set { mode: 0o644, owner: None };
    root.create_dir_all(STORE_DIR, 0o755).with_context(|| format!("creating {}", Root::display(STORE_DIR)))?;
    root.write(&rel, bytes, file)?;
    root.write(format!("{rel}{}", bundle::SIG_SUFFIX), sig, file)?;
    root.write(format!("{STORE_DIR}/{CURRENT}"), format!("{name}\n").as_bytes(), file)?;
    for old in root.list_dir(STORE_DIR)? {
        if old.starts_with(PREFIX)
            && !old.starts_with(&name)
            && let Err(e) = root.remove_file(format!("{STORE_DIR}/{old}"))
        {
            tracing::warn!("could not remove the older bundle {old}: {e:#}");
        }
    }
    match load_stored(root) {
        (Stored::Valid { version, .. }, _) if version == new.meta.version.as_str() => Ok(Root::display(&rel)),
        (Stored::Valid { version, path, .. }, _) => {
            Err(anyhow!("the stored recipes bundle does not read back: {path} is version {version}"))
        }
        (Stored::Invalid { path, reason }, _) => {
            Err(anyhow!("the stored recipes bundle does not read back: {path} is not usable: {reason}"))
        }
        (Stored::Absent, _) => Err(anyhow!("the stored recipes bundle does not read back: nothing is stored")),
    }
}

/// The bytes at `source`: an `http(s)://` URL (the real network, whatever the root), or a
/// `file://` URL or path on this machine (not under `--root`: the bundle comes from the
/// machine running the command), at most `limit` bytes.
fn fetch(source: &str, limit: u64) -> Result<Vec<u8>> {
    let mut out = Capped { buf: Vec::new(), limit };
    if source.starts_with("http://") || source.starts_with("https://") {
        Client::live(Timeouts::download()).download(source, &mut out).map_err(|e| anyhow!("{e}"))?;
    } else {
        let path = source.strip_prefix("file://").unwrap_or(source);
        let mut f = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
        std::io::copy(&mut f, &mut out).with_context(|| format!("reading {path}"))?;
    }
    Ok(out.buf)
}

/// A writer that refuses more than `limit` bytes (a server sending gigabytes stops here).
struct Capped {
    buf: Vec<u8>,
    limit: u64,
}

impl Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if (self.buf.len() + data.len()) as u64 > self.limit {
            return Err(std::io::Error::other(format!("larger than {} KiB", self.limit / 1024)));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixture_replays_its_clock_or_none() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".fixture.yaml"), "description: x\n").unwrap();
        assert_eq!(today(&Root::open(dir.path()).unwrap()).unwrap(), None);
        std::fs::write(dir.path().join(".fixture.yaml"), "today: 2027-05-01\n").unwrap();
        assert_eq!(today(&Root::open(dir.path()).unwrap()).unwrap(), Some(Date::parse("2027-05-01").unwrap()));
        std::fs::write(dir.path().join(".fixture.yaml"), "today: May 1st\n").unwrap();
        let e = today(&Root::open(dir.path()).unwrap()).unwrap_err().to_string();
        assert!(e.contains(".fixture.yaml: today: date \"May 1st\""), "{e}");
        let offline = tempfile::tempdir().unwrap();
        assert_eq!(today(&Root::open(offline.path()).unwrap()).unwrap(), Some(Date::today()));
    }

    #[test]
    fn without_a_stored_bundle_the_built_in_copy_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path()).unwrap();
        let sel = select(&root, None).unwrap();
        assert_eq!(sel.recipes.copy, RecipesCopy::BuiltIn);
        assert_eq!(sel.stored, Some(Stored::Absent));
    }

    #[test]
    fn a_corrupt_store_falls_back_to_the_built_in_copy() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join(STORE_DIR);
        std::fs::create_dir_all(&store).unwrap();
        let root = Root::open(dir.path()).unwrap();
        std::fs::write(store.join(CURRENT), "../../etc/passwd\n").unwrap();
        let sel = select(&root, None).unwrap();
        assert_eq!(sel.recipes.copy, RecipesCopy::BuiltIn);
        assert!(matches!(&sel.stored, Some(Stored::Invalid { reason, .. }) if reason.contains("not a stored bundle")));
        std::fs::write(store.join(CURRENT), format!("{PREFIX}2099.1.1.tar.gz\n")).unwrap();
        std::fs::write(store.join(format!("{PREFIX}2099.1.1.tar.gz")), b"\x1f\x8b garbage").unwrap();
        let sel = select(&root, None).unwrap();
        assert_eq!(sel.recipes.copy, RecipesCopy::BuiltIn);
        assert!(matches!(&sel.stored, Some(Stored::Invalid { reason, .. }) if reason.contains(".minisig is missing")));
        std::fs::write(store.join(format!("{PREFIX}2099.1.1.tar.gz.minisig")), b"untrusted comment: x\n").unwrap();
        let sel = select(&root, None).unwrap();
        assert!(
            matches!(&sel.stored, Some(Stored::Invalid { reason, .. }) if reason.contains("signature check failed"))
        );
    }

    #[test]
    fn the_capped_writer_stops_at_its_limit() {
        let mut c = Capped { buf: Vec::new(), limit: 4 };
        assert!(c.write_all(b"1234").is_ok());
        assert!(c.write_all(b"5").is_err());
    }
}
