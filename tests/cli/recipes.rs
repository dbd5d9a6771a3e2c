//! Recipes that stay current: `recipes update` against a real HTTP server on loopback
//! (Python's http.server) serving bundles that `.ci/recipes-bundle.sh` built and signed with
//! the real `minisign` and a throwaway key — good, bad signature, truncated, rollback,
//! offline, schema mismatch — then doctor and install using the stored copy, a corrupt store
//! falling back, `recipes show`, and the staleness warning on a fixture's clock.
//!
//! The debug binary trusts the throwaway key through `NPU_SETUP_TEST_RECIPES_KEY` (a release
//! build ignores that variable: `recipes::bundle::TEST_KEY_ENV`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};

use crate::{bin, check, copy_fixture, doctor_json, tree_digest};

const STORE: &str = "var/lib/npu-setup/recipes";

/// A throwaway minisign key pair, made with the real tool.
struct Key {
    _dir: tempfile::TempDir,
    secret: PathBuf,
    public: PathBuf,
    base64: String,
}

fn key() -> Key {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = (dir.path().join("test.key"), dir.path().join("test.pub"));
    let out = StdCommand::new("minisign")
        .args(["-G", "-W", "-p"])
        .arg(&public)
        .arg("-s")
        .arg(&secret)
        .output()
        .unwrap_or_else(|e| panic!("minisign not runnable ({e}): bash .ci/test.sh installs Debian's minisign"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let base64 = std::fs::read_to_string(&public).unwrap().lines().nth(1).unwrap().to_string();
    Key { _dir: dir, secret, public, base64 }
}

/// The binary, trusting `k`.
fn npu(k: &Key) -> assert_cmd::Command {
    let mut c = bin();
    c.env("NPU_SETUP_TEST_RECIPES_KEY", &k.base64);
    c
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The built-in copy's `version` and `as_of`.
fn builtin() -> (String, String) {
    let y: serde_json::Value =
        serde_yaml::from_str(&std::fs::read_to_string(repo().join("recipes/meta.yaml")).unwrap()).unwrap();
    (y["version"].as_str().unwrap().to_string(), y["as_of"].as_str().unwrap().to_string())
}

/// A copy of the repository's data with `meta.yaml`'s fields replaced and `edit` applied.
fn data(dir: &Path, version: &str, schema: u32, edit: impl Fn(&Path)) -> PathBuf {
    let d = dir.join(format!("data-{version}-{schema}"));
    std::fs::create_dir_all(&d).unwrap();
    for sub in ["recipes", "grub"] {
        assert!(StdCommand::new("cp").arg("-a").arg(repo().join(sub)).arg(&d).status().unwrap().success());
    }
    let meta = d.join("recipes/meta.yaml");
    let text: String = std::fs::read_to_string(&meta)
        .unwrap()
        .lines()
        .map(|l| match l {
            l if l.starts_with("version:") => format!("version: \"{version}\"\n"),
            l if l.starts_with("schema:") => format!("schema: {schema}\n"),
            l => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&meta, text).unwrap();
    edit(&d);
    d
}

/// Runs `.ci/recipes-bundle.sh` on `data` into `out` (signed with `k`).
fn build(k: &Key, data: &Path, out: &Path, check: bool) {
    let mut c = StdCommand::new("bash");
    c.arg(repo().join(".ci/recipes-bundle.sh"))
        .arg("--key")
        .arg(&k.secret)
        .arg("--pub")
        .arg(&k.public)
        .arg("--out")
        .arg(out)
        .arg("--data")
        .arg(data)
        .arg("--bin")
        .arg(assert_cmd::cargo::cargo_bin("npu-setup"))
        .env("NPU_SETUP_TEST_RECIPES_KEY", &k.base64);
    if !check {
        c.arg("--no-check");
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "recipes-bundle.sh failed: {}", String::from_utf8_lossy(&o.stderr));
}

const BUNDLE: &str = "npu-setup-recipes.tar.gz";

/// Python's http.server on 127.0.0.1 (a free port) serving `dir`; `/cut/<path>` announces the
/// whole file's length and closes after half of it (a download that breaks off).
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(dir: &Path) -> Self {
        const PY: &str = r#"
import functools, http.server, os, sys
d = sys.argv[1]
class H(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith('/cut/'):
            data = open(os.path.join(d, self.path[5:]), 'rb').read()
            self.send_response(200)
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        return super().do_GET()
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(H, directory=d))
print(s.server_address[1], flush=True)
s.serve_forever()
"#;
        let mut child = StdCommand::new("python3")
            .args(["-c", PY])
            .arg(dir)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 for the loopback server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| panic!("server did not start: {line:?}"));
        Server { child, port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `recipes update --from URL` on `root`: (exit code, stdout, stderr).
fn update(k: &Key, root: &Path, url: &str, extra: &[&str]) -> (i32, String, String) {
    let o = npu(k).arg("--root").arg(root).args(["recipes", "update", "--from", url]).args(extra).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `recipes show --format json` on `root`.
fn show(k: &Key, root: &Path) -> serde_json::Value {
    let o = npu(k).arg("--root").arg(root).args(["recipes", "show", "--format", "json"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// A fixture copy whose clock reads `today`.
fn fixture_on(name: &str, today: &str) -> (tempfile::TempDir, PathBuf) {
    let (tmp, root) = copy_fixture(name);
    let meta = root.join(".fixture.yaml");
    let mut text = std::fs::read_to_string(&meta).unwrap();
    text.push_str(&format!("today: {today}\n"));
    std::fs::write(&meta, text).unwrap();
    (tmp, root)
}

/// The site policy of the test: amd_iommu=off only warns and is kept, so doctor's boot.next
/// and install's kargs plan show which copy judged the host.
fn tolerate_iommu_off(d: &Path) {
    let p = d.join("grub/policy.yaml");
    let text = std::fs::read_to_string(&p).unwrap().replacen(
        "    status: fail\n    action: remove\n",
        "    status: warn\n    action: keep\n",
        1,
    );
    std::fs::write(&p, text).unwrap();
}

#[test]
fn a_good_bundle_is_stored_and_doctor_and_install_use_it() {
    let k = key();
    let work = tempfile::tempdir().unwrap();
    let (version, as_of) = builtin();
    let newer = format!("{version}.1");
    build(&k, &data(work.path(), &newer, 1, tolerate_iommu_off), &work.path().join("srv/good"), true);
    let srv = Server::start(&work.path().join("srv"));
    let (_tmp, root) = fixture_on("case09-iommu-off-70rc2", &as_of);

    // Before: the built-in copy judges amd_iommu=off a failure, install removes it.
    let (_, r) = doctor_json(&root, &["--only", "boot.next"]);
    assert_eq!(check(&r, "boot.next")["status"], "fail");
    let kargs_plan = || {
        let o = npu(&k)
            .arg("--root")
            .arg(&root)
            .args(["install", "--dry-run", "--only", "kargs", "--user", "alice"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(kargs_plan().contains("-GRUB_CMDLINE_LINUX=\"rootflags=subvol=root amd_iommu=off"), "{}", kargs_plan());

    // A dry run verifies and stores nothing.
    let digest = tree_digest(&root);
    let (code, out, err) = update(&k, &root, &srv.url(&format!("good/{BUNDLE}")), &["--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("would store recipes {newer}")), "{out}");
    assert_eq!(digest, tree_digest(&root), "a dry run writes nothing");

    let (code, out, err) = update(&k, &root, &srv.url(&format!("good/{BUNDLE}")), &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("stored recipes {newer} (facts as of {as_of})")), "{out}");
    assert!(out.contains(&format!("replaces built-in {version}")), "{out}");
    let stored = root.join(STORE).join(format!("npu-setup-recipes-{newer}.tar.gz"));
    assert_eq!(std::fs::read(&stored).unwrap(), std::fs::read(work.path().join("srv/good").join(BUNDLE)).unwrap());
    assert!(stored.with_extension("gz.minisig").is_file());
    assert_eq!(
        std::fs::read_to_string(root.join(STORE).join("current")).unwrap().trim(),
        stored.file_name().unwrap().to_str().unwrap()
    );

    // doctor reports the stored copy and judges with it.
    let o = npu(&k)
        .arg("--root")
        .arg(&root)
        .args(["doctor", "--format", "json", "--only", "host.recipes,boot.next"])
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let c = check(&r, "host.recipes");
    assert_eq!(c["status"], "pass", "{c}");
    assert_eq!(c["evidence"]["copy"], "stored");
    assert_eq!(c["evidence"]["version"], newer.as_str());
    assert!(c["summary"].as_str().unwrap().starts_with(&format!("stored recipes bundle {newer}")), "{c}");
    assert_eq!(check(&r, "boot.next")["status"], "warn", "the stored policy judged the host");

    // install plans with it: the kept argument is not removed.
    let plan = kargs_plan();
    assert!(
        plan.contains("kernel arguments") && plan.contains("nothing to do"),
        "install used the built-in policy:\n{plan}"
    );

    let s = show(&k, &root);
    assert_eq!(s["in_use"]["copy"], "stored");
    assert_eq!(s["in_use"]["version"], newer.as_str());
    assert_eq!(s["age_days"], 0);
    assert_eq!(s["built_in"]["version"], version.as_str());
    assert_eq!(s["stored"]["state"], "valid");

    // The same bundle again: nothing to do.
    let (code, out, _) = update(&k, &root, &srv.url(&format!("good/{BUNDLE}")), &[]);
    assert_eq!(code, 0);
    assert!(out.contains("already in use"), "{out}");

    // A binary that does not trust the key (the project key: no override) passes the stored
    // bundle over with a warning and still runs on its built-in copy.
    let o =
        bin().arg("--root").arg(&root).args(["doctor", "--format", "json", "--only", "host.recipes"]).output().unwrap();
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(check(&r, "host.recipes")["evidence"]["copy"], "built-in");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not using the stored recipes bundle") && err.contains("another key"), "{err}");
}

#[test]
fn a_bad_signature_is_refused_and_nothing_is_stored() {
    let (k, other) = (key(), key());
    let work = tempfile::tempdir().unwrap();
    let newer = format!("{}.1", builtin().0);
    let d = data(work.path(), &newer, 1, |_| {});
    build(&other, &d, &work.path().join("srv/other-key"), true);
    build(&k, &d, &work.path().join("srv/tampered"), true);
    let tampered = work.path().join("srv/tampered").join(BUNDLE);
    let mut b = std::fs::read(&tampered).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0x01;
    std::fs::write(&tampered, b).unwrap();
    std::fs::create_dir_all(work.path().join("srv/unsigned")).unwrap();
    std::fs::copy(work.path().join("srv/other-key").join(BUNDLE), work.path().join("srv/unsigned").join(BUNDLE))
        .unwrap();
    let srv = Server::start(&work.path().join("srv"));
    let root = tempfile::tempdir().unwrap();
    for (dir, needle) in [
        ("other-key", "signature check failed: it was made with another key than the trusted one"),
        ("tampered", "signature check failed: the signature does not match the bundle"),
        ("unsigned", "downloading its signature"),
    ] {
        let (code, out, err) = update(&k, root.path(), &srv.url(&format!("{dir}/{BUNDLE}")), &[]);
        assert_eq!(code, 2, "{dir}: {out}");
        assert!(err.contains(needle), "{dir}: {err}");
        assert!(!root.path().join(STORE).exists(), "{dir}: something was stored");
    }
}

#[test]
fn a_truncated_bundle_is_refused() {
    let k = key();
    let work = tempfile::tempdir().unwrap();
    let newer = format!("{}.1", builtin().0);
    let d = data(work.path(), &newer, 1, |_| {});
    let good = work.path().join("srv/good");
    build(&k, &d, &good, true);
    // Truncated on disk, the original signature beside it.
    let cut = work.path().join("srv/cut-file");
    std::fs::create_dir_all(&cut).unwrap();
    let bytes = std::fs::read(good.join(BUNDLE)).unwrap();
    std::fs::write(cut.join(BUNDLE), &bytes[..bytes.len() - 100]).unwrap();
    std::fs::copy(good.join(format!("{BUNDLE}.minisig")), cut.join(format!("{BUNDLE}.minisig"))).unwrap();
    // Truncated and then signed: the signature holds, the archive does not.
    let signed = work.path().join("srv/cut-signed");
    std::fs::create_dir_all(&signed).unwrap();
    std::fs::write(signed.join(BUNDLE), &bytes[..bytes.len() - 100]).unwrap();
    let o = StdCommand::new("minisign")
        .args(["-S", "-s"])
        .arg(&k.secret)
        .arg("-m")
        .arg(signed.join(BUNDLE))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let srv = Server::start(&work.path().join("srv"));
    let root = tempfile::tempdir().unwrap();
    for (path, needle) in [
        (format!("cut-file/{BUNDLE}"), "the signature does not match the bundle"),
        (format!("cut-signed/{BUNDLE}"), "not a usable recipes bundle: it is not a complete gzip stream"),
        (format!("cut/good/{BUNDLE}"), "downloading the recipes bundle"),
    ] {
        let (code, out, err) = update(&k, root.path(), &srv.url(&path), &[]);
        assert_eq!(code, 2, "{path}: {out}");
        assert!(err.contains(needle), "{path}: {err}");
        assert!(!root.path().join(STORE).exists(), "{path}: something was stored");
    }
}

#[test]
fn a_rollback_is_refused() {
    let k = key();
    let work = tempfile::tempdir().unwrap();
    let (version, _) = builtin();
    let (v1, v2) = (format!("{version}.1"), format!("{version}.2"));
    build(&k, &data(work.path(), &v1, 1, |_| {}), &work.path().join("srv/v1"), true);
    build(&k, &data(work.path(), &v2, 1, |_| {}), &work.path().join("srv/v2"), true);
    build(&k, &data(work.path(), "2020.01.01", 1, |_| {}), &work.path().join("srv/old"), true);
    let srv = Server::start(&work.path().join("srv"));
    let root = tempfile::tempdir().unwrap();
    // Older than the built-in copy.
    let (code, _, err) = update(&k, root.path(), &srv.url(&format!("old/{BUNDLE}")), &[]);
    assert_eq!(code, 2);
    assert!(err.contains("it would roll back the recipes in use (version 2020.01.01 is older than"), "{err}");
    assert!(err.contains(&format!("in use: built-in {version}")), "{err}");
    // Older than the stored copy.
    assert_eq!(update(&k, root.path(), &srv.url(&format!("v2/{BUNDLE}")), &[]).0, 0);
    let (code, _, err) = update(&k, root.path(), &srv.url(&format!("v1/{BUNDLE}")), &[]);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("version {v1} is older than {v2} in use")), "{err}");
    assert_eq!(show(&k, root.path())["in_use"]["version"], v2.as_str());
    // Only the bundle in use is kept.
    let names = std::fs::read_dir(root.path().join(STORE)).unwrap().count();
    assert_eq!(names, 3, "current, the bundle and its signature");
}

#[test]
fn offline_is_a_clear_error() {
    let k = key();
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("srv")).unwrap();
    let srv = Server::start(&work.path().join("srv"));
    let url = srv.url(BUNDLE);
    drop(srv); // nothing listens there any more
    let root = tempfile::tempdir().unwrap();
    let (code, _, err) = update(&k, root.path(), &url, &[]);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("downloading the recipes bundle {url}")), "{err}");
    assert!(!root.path().join(STORE).exists());
    // A server that is up but has no bundle: the status names it.
    let srv = Server::start(&work.path().join("srv"));
    let (code, _, err) = update(&k, root.path(), &srv.url(BUNDLE), &[]);
    assert_eq!(code, 2);
    assert!(err.contains("HTTP 404 Not Found"), "{err}");
}

#[test]
fn another_schema_is_refused() {
    let k = key();
    let work = tempfile::tempdir().unwrap();
    let newer = format!("{}.1", builtin().0);
    build(&k, &data(work.path(), &newer, 2, |_| {}), &work.path().join("srv/schema2"), false);
    let srv = Server::start(&work.path().join("srv"));
    let root = tempfile::tempdir().unwrap();
    let (code, _, err) = update(&k, root.path(), &srv.url(&format!("schema2/{BUNDLE}")), &[]);
    assert_eq!(code, 2);
    assert!(err.contains("the bundle is recipes schema 2, this npu-setup reads schema 1"), "{err}");
    assert!(!root.path().join(STORE).exists());
    // The script refuses to sign what the binary cannot load, unless told not to check.
    let o = StdCommand::new("bash")
        .arg(repo().join(".ci/recipes-bundle.sh"))
        .arg("--key")
        .arg(&k.secret)
        .arg("--pub")
        .arg(&k.public)
        .arg("--out")
        .arg(work.path().join("refused"))
        .arg("--data")
        .arg(work.path().join(format!("data-{newer}-2")))
        .arg("--bin")
        .arg(assert_cmd::cargo::cargo_bin("npu-setup"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("recipes schema 2 is not the schema this npu-setup reads (1)"));
}

#[test]
fn a_corrupt_store_falls_back_to_the_built_in_copy_with_a_warning() {
    let k = key();
    let work = tempfile::tempdir().unwrap();
    let (version, as_of) = builtin();
    let newer = format!("{version}.1");
    build(&k, &data(work.path(), &newer, 1, |_| {}), &work.path().join("srv/good"), true);
    let srv = Server::start(&work.path().join("srv"));
    let (_tmp, root) = fixture_on("fedora44-71-intree-healthy", &as_of);
    assert_eq!(update(&k, &root, &srv.url(&format!("good/{BUNDLE}")), &[]).0, 0);
    let stored = root.join(STORE).join(format!("npu-setup-recipes-{newer}.tar.gz"));
    let b = std::fs::read(&stored).unwrap();
    std::fs::write(&stored, &b[..b.len() / 3]).unwrap();
    let o = npu(&k).arg("--root").arg(&root).args(["doctor", "--format", "json"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "doctor still runs");
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(check(&r, "host.recipes")["evidence"]["copy"], "built-in");
    assert_eq!(r["diagnosis"]["state"], "ready");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("not using the stored recipes bundle /{STORE}/npu-setup-recipes-{newer}.tar.gz")),
        "{err}"
    );
    let s = show(&k, &root);
    assert_eq!(s["in_use"]["copy"], "built-in");
    assert_eq!(s["stored"]["state"], "invalid");
    // A fresh update repairs it.
    assert_eq!(update(&k, &root, &srv.url(&format!("good/{BUNDLE}")), &[]).0, 0);
    assert_eq!(show(&k, &root)["in_use"]["copy"], "stored");
}

#[test]
fn doctor_warns_about_stale_recipes_and_says_how_to_update() {
    // No signing needed: the built-in copy, on a day long after its as_of.
    let (_tmp, root) = fixture_on("fedora44-71-intree-healthy", "2099-01-01");
    let (code, r) = doctor_json(&root, &[]);
    assert_eq!(code, 0, "a warning, not a failure");
    assert_eq!(r["diagnosis"]["state"], "degraded");
    let c = check(&r, "host.recipes");
    assert_eq!(c["status"], "warn", "{c}");
    let (_, as_of) = builtin();
    assert!(c["summary"].as_str().unwrap().contains(&format!("(facts as of {as_of}; older than 120 days)")), "{c}");
    assert_eq!(c["remedy"]["commands"][0], "sudo npu-setup recipes update");
    let human = bin().arg("--root").arg(&root).args(["recipes", "show"]).output().unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("recipes in use: the built-in copy") && text.contains("older than 120 days"), "{text}");
    // The fixtures without a clock judge no age: their reports do not change with the date.
    let (_, r) = doctor_json(&crate::fixture("fedora44-71-intree-healthy"), &[]);
    assert_eq!(check(&r, "host.recipes")["status"], "skip");
}

#[test]
fn update_refuses_with_a_data_dir() {
    let o = bin().args(["--data-dir", "/nonexistent", "recipes", "update"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("it does not change a --data-dir"));
}
