//! Signed recipe bundles: knowledge that updates without a new binary.
//!
//! A bundle is a gzip'd tar of the data directory layout (`recipes/*.yaml`, `grub/policy.yaml`,
//! `recipes/meta.yaml`) with a detached minisign signature (`<bundle>.minisig`, Ed25519 over the
//! BLAKE2b-512 hash of the tarball, what `minisign -S` writes). `.ci/recipes-bundle.sh` builds
//! and signs one. This module is pure: it verifies bytes against the key built into the binary,
//! unpacks them with strict limits, and loads them as [`Recipes`]; fetching and storing them
//! is `npu-setup recipes update`'s business (`commands::recipes`).
//!
//! Verification uses `minisign-verify` (jedisct1, the author of minisign and libsodium): a
//! small, dependency-free implementation of exactly the format the `minisign` tool writes.

use std::collections::BTreeMap;
use std::io::Read;

use minisign_verify::{PublicKey, Signature};

use super::Recipes;
use super::meta::{Meta, RECIPES_SCHEMA};

/// The project's recipe-signing public key (minisign, key id 99B7A802E2AB418B; also in
/// `docs/recipes-signing-key.pub`). Only bundles signed by its secret key are ever stored or
/// used. docs/recipes.md says how the maintainer signs, and how to rotate it.
pub const PROJECT_KEY: &str = "RWSLQaviAqi3mRhYvbs8OzGhhwpdK93Eon0wq2CipItjcukDe1Td1oIY";

/// Where `npu-setup recipes update` looks without `--from`: the newest release asset of the
/// project's repository. A placeholder until the project publishes bundles there; the
/// signature is fetched from the same URL with [`SIG_SUFFIX`] appended.
pub const DEFAULT_BUNDLE_URL: &str =
    "https://github.com/npu-setup/npu-setup/releases/latest/download/npu-setup-recipes.tar.gz";

/// What a detached signature's URL or file name adds to the bundle's.
pub const SIG_SUFFIX: &str = ".minisig";

/// A debug build (what `cargo test` runs) trusts the minisign public key (base64) in this
/// variable instead of [`PROJECT_KEY`], so tests can sign bundles with a throwaway key. A
/// release build never reads it: its trust anchor cannot be moved by the environment (sudo's
/// `env_keep`, a unit's `Environment=`, a login script), only by rebuilding.
pub const TEST_KEY_ENV: &str = "NPU_SETUP_TEST_RECIPES_KEY";

/// Largest bundle accepted, compressed (the data is ~200 KiB of YAML).
pub const MAX_BUNDLE_BYTES: u64 = 4 * 1024 * 1024;
/// Largest signature file accepted.
pub const MAX_SIG_BYTES: u64 = 4 * 1024;
/// Largest total of the unpacked files (a gzip bomb stops here).
const MAX_UNPACKED_BYTES: u64 = 32 * 1024 * 1024;
/// Most entries a bundle may hold.
const MAX_ENTRIES: usize = 256;

/// The key bundles must be signed with, and where it came from.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// The key (minisign base64, `RW…`).
    pub base64: String,
    /// True when it came from [`TEST_KEY_ENV`] (debug builds only).
    pub test_override: bool,
    key: PublicKey,
}

impl TrustedKey {
    /// The key built into this binary; in a debug build, the one in [`TEST_KEY_ENV`] when set.
    pub fn get() -> Result<Self, BundleError> {
        if cfg!(debug_assertions)
            && let Some(k) = std::env::var(TEST_KEY_ENV).ok().filter(|k| !k.trim().is_empty())
        {
            return Self::from_base64(k.trim(), true);
        }
        Self::from_base64(PROJECT_KEY, false)
    }

    /// A key from its minisign base64 form.
    pub fn from_base64(b64: &str, test_override: bool) -> Result<Self, BundleError> {
        let key = PublicKey::from_base64(b64).map_err(|e| {
            BundleError::Signature(format!("the trusted public key {b64:?} is not a minisign key: {e}"))
        })?;
        Ok(TrustedKey { base64: b64.to_string(), test_override, key })
    }
}

/// Why a bundle was refused. Each names what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The signature is missing, malformed, from another key, or does not match the bytes.
    #[error("signature check failed: {0}")]
    Signature(String),
    /// Not a complete gzip'd tar of the expected layout (a truncated download lands here).
    #[error("not a usable recipes bundle: {0}")]
    Format(String),
    /// Made for another recipes schema than this binary reads.
    #[error(
        "the bundle is recipes schema {found}, this npu-setup reads schema {RECIPES_SCHEMA}: use a bundle made for this release, or upgrade npu-setup"
    )]
    Schema {
        /// The bundle's schema.
        found: u32,
    },
    /// Signed and complete, but its data does not load (a file fails to parse or validate).
    #[error("the bundle's data is invalid: {0:#}")]
    Data(anyhow::Error),
}

/// Checks `minisig` (the text of a `.minisig` file) against `bytes` with `key`. Only prehashed
/// signatures (minisign >= 0.10's default) are accepted.
pub fn verify(bytes: &[u8], minisig: &str, key: &TrustedKey) -> Result<(), BundleError> {
    let sig = Signature::decode(minisig)
        .map_err(|e| BundleError::Signature(format!("the signature file is not a minisign signature ({e})")))?;
    key.key.verify(bytes, &sig, false).map_err(|e| {
        BundleError::Signature(match e {
            minisign_verify::Error::UnexpectedKeyId => {
                format!("it was made with another key than the trusted one ({})", key.base64)
            }
            minisign_verify::Error::InvalidSignature => {
                "the signature does not match the bundle: it was altered, truncated or swapped".to_string()
            }
            minisign_verify::Error::UnexpectedAlgorithm => {
                "a legacy (not prehashed) signature: sign with `minisign -S` (0.10 or later)".to_string()
            }
            other => other.to_string(),
        })
    })
}

/// The files of a bundle (path relative to the data dir -> UTF-8 text). Every data file this
/// binary reads must be there, as a regular file; directories are skipped, files it does not
/// read are ignored (a later release may add some under the same schema), and anything else —
/// links, devices, absolute or `..` paths, duplicates, oversized content — is refused.
pub fn unpack(bytes: &[u8]) -> Result<BTreeMap<String, String>, BundleError> {
    let fmt = |m: String| BundleError::Format(m);
    // Decompress it whole first: only reading the gzip stream to its end checks its length and
    // CRC, and the tar reader stops at its end-of-archive blocks, before a cut-off trailer.
    let mut tar_bytes = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_UNPACKED_BYTES + 1)
        .read_to_end(&mut tar_bytes)
        .map_err(|e| fmt(format!("it is not a complete gzip stream (truncated?): {e}")))?;
    if tar_bytes.len() as u64 > MAX_UNPACKED_BYTES {
        return Err(fmt(format!("unpacks to more than {} MiB", MAX_UNPACKED_BYTES / 1024 / 1024)));
    }
    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    let wanted: Vec<&str> = super::embedded_files().iter().map(|(rel, _)| *rel).collect();
    let mut files = BTreeMap::new();
    let entries = archive.entries().map_err(|e| fmt(format!("reading the archive: {e}")))?;
    for (n, entry) in entries.enumerate() {
        let mut entry = entry.map_err(|e| fmt(format!("reading the archive (truncated?): {e}")))?;
        if n >= MAX_ENTRIES {
            return Err(fmt(format!("more than {MAX_ENTRIES} entries")));
        }
        let raw =
            entry.path().map_err(|e| fmt(format!("an entry has a bad path: {e}")))?.to_string_lossy().into_owned();
        let path = raw.trim_start_matches("./").trim_end_matches('/').to_string();
        if path.is_empty() {
            continue;
        }
        if path.starts_with('/') || path.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(fmt(format!("entry {raw:?} is not a plain relative path")));
        }
        match entry.header().entry_type() {
            tar::EntryType::Directory => continue,
            tar::EntryType::Regular => {}
            other => {
                let kind = match other {
                    tar::EntryType::Symlink => "symbolic link",
                    tar::EntryType::Link => "hard link",
                    tar::EntryType::Char => "character device",
                    tar::EntryType::Block => "block device",
                    tar::EntryType::Fifo => "FIFO",
                    _ => "special entry",
                };
                return Err(fmt(format!("entry {raw:?} is a {kind}, not a regular file")));
            }
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(|e| fmt(format!("reading {path} (truncated?): {e}")))?;
        if !wanted.contains(&path.as_str()) {
            continue;
        }
        let text = String::from_utf8(data).map_err(|_| fmt(format!("{path} is not UTF-8 text")))?;
        if files.insert(path.clone(), text).is_some() {
            return Err(fmt(format!("{path} appears twice")));
        }
    }
    let missing: Vec<&str> = wanted.iter().copied().filter(|w| !files.contains_key(*w)).collect();
    if !missing.is_empty() {
        return Err(fmt(format!("it lacks {}", missing.join(", "))));
    }
    Ok(files)
}

/// Verifies, unpacks and loads a bundle: the signature first (nothing unsigned is parsed),
/// then the layout, then the schema, then every file through the same parser and
/// cross-reference validation as the built-in copy. `origin` names it in errors and in
/// [`Recipes::origin`].
pub fn open(bytes: &[u8], minisig: &str, key: &TrustedKey, origin: &str) -> Result<Recipes, BundleError> {
    verify(bytes, minisig, key)?;
    let files = unpack(bytes)?;
    let meta = peek_meta(&files)?;
    if meta.schema != RECIPES_SCHEMA {
        return Err(BundleError::Schema { found: meta.schema });
    }
    Recipes::from_files(&files, origin).map_err(BundleError::Data)
}

/// The bundle's `recipes/meta.yaml`, read leniently enough to learn its schema even when the
/// rest of it belongs to another schema.
fn peek_meta(files: &BTreeMap<String, String>) -> Result<Meta, BundleError> {
    #[derive(serde::Deserialize)]
    struct SchemaOnly {
        schema: u32,
    }
    let text = files.get("recipes/meta.yaml").map(String::as_str).unwrap_or_default();
    let s: SchemaOnly = serde_yaml::from_str(text)
        .map_err(|e| BundleError::Format(format!("recipes/meta.yaml has no schema number: {e}")))?;
    if s.schema != RECIPES_SCHEMA {
        return Err(BundleError::Schema { found: s.schema });
    }
    serde_yaml::from_str(text).map_err(|e| BundleError::Data(anyhow::anyhow!("recipes/meta.yaml: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bundle of the built-in files, `edit` applied to each (path, text).
    fn tarball(edit: impl Fn(&str, &str) -> Option<String>) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut t = tar::Builder::new(gz);
        for (rel, text) in super::super::embedded_files() {
            let Some(text) = edit(rel, text) else { continue };
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            t.append_data(&mut h, rel, text.as_bytes()).unwrap();
        }
        t.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn the_project_key_is_a_minisign_key_and_matches_the_published_file() {
        let k = TrustedKey::from_base64(PROJECT_KEY, false).unwrap();
        assert!(!k.test_override);
        let published = include_str!("../../docs/recipes-signing-key.pub");
        assert_eq!(published.lines().nth(1), Some(PROJECT_KEY), "docs/recipes-signing-key.pub and PROJECT_KEY differ");
    }

    #[test]
    fn unpack_reads_the_layout_and_ignores_unknown_files() {
        let files = unpack(&tarball(|_, t| Some(t.to_string()))).unwrap();
        assert_eq!(files.len(), super::super::embedded_files().len());
        let r = Recipes::from_files(&files, "test-bundle").unwrap();
        assert_eq!(r.copy, super::super::RecipesCopy::Stored);
        assert_eq!(r.meta, Recipes::embedded_meta().unwrap());
    }

    #[test]
    fn unpack_refuses_missing_files_and_truncation() {
        let e = unpack(&tarball(|rel, t| (rel != "grub/policy.yaml").then(|| t.to_string()))).unwrap_err();
        assert!(e.to_string().contains("lacks grub/policy.yaml"), "{e}");
        let full = tarball(|_, t| Some(t.to_string()));
        for cut in [10, full.len() / 2, full.len() - 9] {
            let e = unpack(&full[..cut]).unwrap_err();
            assert!(matches!(e, BundleError::Format(_)), "{cut}: {e}");
        }
        assert!(matches!(unpack(b"plain text"), Err(BundleError::Format(_))));
    }

    #[test]
    fn a_bad_signature_file_is_a_signature_error() {
        let k = TrustedKey::from_base64(PROJECT_KEY, false).unwrap();
        let e = verify(b"data", "not a signature", &k).unwrap_err();
        assert!(matches!(e, BundleError::Signature(_)), "{e}");
        // Signed by minisign-verify's documentation key: another key id.
        let other = "untrusted comment: signature from minisign secret key\nRUQf6LRCGA9i559r3g7V1qNyJDApGip8MfqcadIgT9CuhV3EMhHoN1mGTkUidF/z7SrlQgXdy8ofjb7bNJJylDOocrCo8KLzZwo=\ntrusted comment: timestamp:1633700835\tfile:test\tprehashed\nwLMDjy9FLAuxZ3q4NlEvkgtyhrr0gtTu6KC4KBJdITbbOeAi1zBIYo0v4iTgt8jJpIidRJnp94ABQkJAgAooBQ==\n";
        let e = verify(b"test", other, &k).unwrap_err();
        assert!(e.to_string().contains("another key"), "{e}");
        let theirs =
            TrustedKey::from_base64("RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3", false).unwrap();
        verify(b"test", other, &theirs).unwrap();
        let e = verify(b"tesT", other, &theirs).unwrap_err();
        assert!(e.to_string().contains("does not match"), "{e}");
    }

    #[test]
    fn another_schema_is_named_before_its_files_are_parsed() {
        let files = unpack(&tarball(|rel, t| {
            Some(match rel {
                "recipes/meta.yaml" => t.replace("schema: 1", "schema: 7").replace("as_of:", "new_field: x\nas_of:"),
                "recipes/devices.yaml" => "devices: {a layout this binary does not know: 1}\n".to_string(),
                _ => t.to_string(),
            })
        }))
        .unwrap();
        let e = peek_meta(&files).unwrap_err();
        assert!(matches!(e, BundleError::Schema { found: 7 }), "{e}");
        assert!(e.to_string().contains("schema 7, this npu-setup reads schema 1"), "{e}");
    }
}
