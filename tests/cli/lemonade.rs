//! The Lemonade steps (`lemonade`, `lemonade-service`, `models`) and `dev lemonade-ready` on
//! scratch roots, with real tools where they run here: a real RPM built by `rpmbuild`, served
//! by a loopback HTTP server, installed by the real `rpm --root --dbpath` into the tree and
//! queried from that real database. Fakes only for what cannot run here: `dnf` (a wrapper
//! around the real rpm: no repositories, no dependency resolution, no scriptlets), `systemctl`
//! (no systemd: a stateful fake) and `flm` pulls (no NPU, no network: a fake that records them).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{RECORD, bin, calls, check, copy_fixture, doctor_json, tree_digest, write_shim};

const VERSION: &str = "11.7.0";
fn install(root: &Path, args: &[&str]) -> (i32, String, String) {
    let out = bin().arg("--root").arg(root).arg("install").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A real `lemonade-server` RPM (noarch) holding /usr/bin/lemond and the upstream-style
/// hardened /usr/lib/systemd/system/lemond.service, built with the real rpmbuild.
fn build_rpm(dir: &Path) -> PathBuf {
    let spec = dir.join("lemonade-server.spec");
    std::fs::write(
        &spec,
        format!(
            "Name: lemonade-server\nVersion: {VERSION}\nRelease: 1\nSummary: Lemonade test package\nLicense: Apache-2.0\nBuildArch: noarch\n\
             %description\nA stand-in for the Lemonade release RPM.\n\
             %install\nmkdir -p %{{buildroot}}/usr/bin %{{buildroot}}/usr/lib/systemd/system\n\
             printf '#!/bin/sh\\nexit 0\\n' > %{{buildroot}}/usr/bin/lemond\nchmod 755 %{{buildroot}}/usr/bin/lemond\n\
             printf '[Unit]\\nDescription=Lemonade Server\\n[Service]\\nUser=lemonade\\nStateDirectory=lemonade\\nEnvironmentFile=-/etc/default/lemond\\nExecStart=/usr/bin/lemond\\nProtectHome=yes\\n[Install]\\nWantedBy=multi-user.target\\n' > %{{buildroot}}/usr/lib/systemd/system/lemond.service\n\
             %files\n/usr/bin/lemond\n/usr/lib/systemd/system/lemond.service\n"
        ),
    )
    .unwrap();
    let top = dir.join("rpmbuild");
    let out = std::process::Command::new("rpmbuild")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .args(["--quiet", "-bb"])
        .arg(&spec)
        .output()
        .expect("rpmbuild (Debian package `rpm`; .ci/test.sh installs it)");
    assert!(out.status.success(), "rpmbuild: {}", String::from_utf8_lossy(&out.stderr));
    let rpm = top.join(format!("RPMS/noarch/lemonade-server-{VERSION}-1.noarch.rpm"));
    assert!(rpm.is_file());
    rpm
}

/// Serves one file to every GET on loopback; returns its URL and a request counter.
fn serve(file: PathBuf) -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/{}", l.local_addr().unwrap(), file.file_name().unwrap().to_string_lossy());
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            h.fetch_add(1, Ordering::SeqCst);
            let data = std::fs::read(&file).unwrap();
            let _ = s.write_all(
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", data.len()).as_bytes(),
            );
            let _ = s.write_all(&data);
        }
    });
    (url, hits)
}

/// systemctl without systemd: remembers enable/start per unit, answers `show` from that and
/// from the unit files in the tree (the probe reads Environment from the files).
fn fake_systemctl(root: &Path) {
    let _ = std::fs::remove_file(root.join("usr/bin/systemctl"));
    write_shim(
        root,
        "usr/bin/systemctl",
        &format!(
            r#"st="$NPU_SETUP_ROOT/../systemd-state"; mkdir -p "$st"
case "$1" in
  show)
    for unit; do :; done
    frag=""
    for d in etc/systemd/system usr/lib/systemd/system lib/systemd/system opt/lib/systemd/system; do
      if [ -e "$NPU_SETUP_ROOT/$d/$unit" ]; then frag="/$d/$unit"; break; fi
    done
    if [ -z "$frag" ]; then printf 'Id=%s\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\n' "$unit"; exit 0; fi
    a=inactive; s=dead; e=disabled
    [ -e "$st/$unit.active" ] && a=active && s=running
    [ -e "$st/$unit.enabled" ] && e=enabled
    printf 'Id=%s\nLoadState=loaded\nActiveState=%s\nSubState=%s\nUnitFileState=%s\nFragmentPath=%s\nExecStart=\nEnvironment=\n' "$unit" "$a" "$s" "$e" "$frag"
    exit 0 ;;
esac
{RECORD}
case "$1" in
  enable) shift; now=""; for x; do case "$x" in --now) now=1 ;; -*) ;; *) u="$x" ;; esac; done
          touch "$st/$u.enabled"; [ -n "$now" ] && touch "$st/$u.active" ;;
  start|restart) touch "$st/$2.active" ;;
esac
exit 0"#
        ),
    );
}

fn seed_unit_state(root: &Path, unit: &str) {
    let st = root.parent().unwrap().join("systemd-state");
    std::fs::create_dir_all(&st).unwrap();
    std::fs::write(st.join(format!("{unit}.active")), "").unwrap();
    std::fs::write(st.join(format!("{unit}.enabled")), "").unwrap();
}

/// npu-setup "installed" in the tree, so the unit's readiness check has a path.
fn install_self(root: &Path) {
    // A wrapper, not a symlink: an absolute link in the tree resolves inside the tree, where
    // the test binary's path does not exist.
    crate::write_shim(root, "usr/local/bin/npu-setup", &format!("exec {} \"$@\"", env!("CARGO_BIN_EXE_npu-setup")));
}

/// Fedora 44 with Lemonade removed (files, unit, drop-in, package record), a real rpm
/// database in the tree, and the fakes.
fn fedora44_without_lemonade() -> (tempfile::TempDir, PathBuf) {
    let (tmp, root) = copy_fixture("fedora44-71-intree-healthy");
    for rel in ["usr/bin/lemond", "usr/bin/lemonade", "usr/lib/systemd/system/lemond.service"] {
        std::fs::remove_file(root.join(rel)).unwrap();
    }
    let _ = std::fs::remove_file(root.join("etc/systemd/system/multi-user.target.wants/lemond.service"));
    for rel in ["etc/systemd/system/lemond.service.d", "etc/lemonade", "var/lib/flm", "var/lib/lemonade/.cache"] {
        let _ = std::fs::remove_dir_all(root.join(rel));
    }
    // Nothing answers on Lemonade's port either: an answering Lemonade without a unit here
    // would be one running elsewhere (a container), not a missing one.
    let meta = std::fs::read_to_string(root.join(".fixture.yaml")).unwrap();
    let meta: String = meta.lines().filter(|l| !l.contains(":13305/")).map(|l| format!("{l}\n")).collect();
    std::fs::write(root.join(".fixture.yaml"), meta).unwrap();
    // rpm: the real database in the tree answers first; packages this test does not install
    // (XRT, FLM) come from the fixture's captured answers.
    let replay = std::fs::read_to_string(root.join("usr/bin/rpm")).unwrap();
    let replay: String = replay.lines().filter(|l| !l.contains("lemonade-server")).map(|l| format!("{l}\n")).collect();
    std::fs::write(root.join("usr/bin/rpm.replay"), replay).unwrap();
    std::fs::set_permissions(root.join("usr/bin/rpm.replay"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .unwrap();
    write_shim(
        &root,
        "usr/bin/rpm",
        &format!(
            r#"real() {{ /usr/bin/rpm --root "$NPU_SETUP_ROOT" --dbpath /var/lib/rpm "$@"; }}
case " $* " in *" -q "*) ;; *) {RECORD}; real "$@"; exit $? ;; esac
rc=0; skip=0; qf=''; names=''
for a in "$@"; do
  if [ "$skip" = 1 ]; then skip=0; qf="$a"; continue; fi
  case "$a" in --qf|--queryformat) skip=1 ;; -*) ;; *) names="$names $a" ;; esac
done
for n in $names; do
  if out=$(real -q --qf "$qf" "$n" 2>/dev/null); then printf '%s\n' "$out"
  else "$(dirname "$0")/rpm.replay" -q --qf "$qf" "$n" || rc=1; fi
done
exit $rc"#
        ),
    );
    // dnf: the real rpm installs the file into the tree. Real dnf would also resolve
    // dependencies from repositories and run the package's scriptlets (creating the
    // `lemonade` user, which the fixture already has).
    write_shim(
        &root,
        "usr/bin/dnf",
        &format!(
            "{RECORD}\nfor f; do :; done\nexec /usr/bin/rpm --root \"$NPU_SETUP_ROOT\" --dbpath /var/lib/rpm -U --nodeps --noscripts \"$f\" 2>&1"
        ),
    );
    fake_systemctl(&root);
    // flm: pulls are recorded and then listed as installed; everything else replays.
    std::fs::rename(root.join("usr/bin/flm"), root.join("usr/bin/flm.replay")).unwrap();
    write_shim(
        &root,
        "usr/bin/flm",
        &format!(
            r#"db="$NPU_SETUP_ROOT$FLM_MODEL_PATH/pulled"
case "$1" in
  pull) {RECORD} FLM_MODEL_PATH=$FLM_MODEL_PATH; mkdir -p "$(dirname "$db")"; echo "$2" >> "$db"; exit 0 ;;
  list) printf '{{"models":['; sep=''
        [ -f "$db" ] && while read -r m; do printf '%s{{"name":"%s","installed":true}}' "$sep" "$m"; sep=,; done < "$db"
        printf ']}}\n'; exit 0 ;;
esac
exec "$(dirname "$0")/flm.replay" "$@""#
        ),
    );
    // The real env, found inside the tree as every command of a fixture root is.
    write_shim(&root, "usr/bin/env", "exec /usr/bin/env \"$@\"");
    install_self(&root);
    (tmp, root)
}

const STEPS: &str = "lemonade,lemonade-service,models";

#[test]
fn lemonade_10_0_unit_gets_flm_on_its_path() {
    let (_tmp, root) = copy_fixture("lemonade-no-flm-path");
    fake_systemctl(&root);
    seed_unit_state(&root, "lemonade-server.service");
    install_self(&root);
    let (_, before) = doctor_json(&root, &[]);
    assert_eq!(check(&before, "lemonade.flm")["status"], "fail");

    let (code, out, err) = install(&root, &["--yes", "--only", "lemonade-service"]);
    assert_ne!(code, 2, "{out}\n{err}");
    assert!(!out.contains("install failed"), "{out}");
    let dropin =
        std::fs::read_to_string(root.join("etc/systemd/system/lemonade-server.service.d/50-npu-setup.conf")).unwrap();
    for line in [
        "# Managed by npu-setup",
        "\nEnvironment=PATH=/opt/fastflowlm/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin\n",
        "\nEnvironment=FLM_MODEL_PATH=/var/lib/flm\n",
        "\nEnvironment=LEMONADE_HOST=127.0.0.1\n",
        // Lemonade 10.0 (lemonade-router) listens on 8000.
        "\nEnvironment=LEMONADE_PORT=8000\n",
        "\nLimitMEMLOCK=infinity\n",
        "\nExecStartPost=-/usr/local/bin/npu-setup dev lemonade-ready --url http://127.0.0.1:8000 --timeout 60 --load qwen3-4b-FLM\n",
    ] {
        assert!(dropin.contains(line), "{line:?} in\n{dropin}");
    }
    assert!(!dropin.contains("UNVERIFIED"), "10.0's LEMONADE_* variables are documented");
    assert!(root.join("var/lib/flm").is_dir());
    assert_eq!(calls(&root), ["systemctl daemon-reload", "systemctl restart lemonade-server.service"]);
    let (_, after) = doctor_json(&root, &[]);
    let svc = check(&after, "lemonade.service");
    assert_eq!(svc["status"], "pass", "{svc}");
    let flm = check(&after, "lemonade.flm");
    assert_eq!(flm["status"], "pass", "{flm}");
    assert_eq!(flm["evidence"]["flm_found_by_service"], "/opt/fastflowlm/bin/flm");

    // Converged: the second run plans nothing and runs nothing.
    let digest = tree_digest(&root);
    let (_, out, _) = install(&root, &["--yes", "--only", "lemonade-service"]);
    assert!(out.contains("Everything is in place"), "{out}");
    assert_eq!(calls(&root).len(), 2);
    assert_eq!(digest, tree_digest(&root));
}

#[test]
fn a_public_bind_address_without_an_api_key_is_blocked() {
    let (_tmp, root) = copy_fixture("lemonade-no-flm-path");
    fake_systemctl(&root);
    seed_unit_state(&root, "lemonade-server.service");
    let digest = tree_digest(&root);
    let (code, out, _) = install(&root, &["--yes", "--only", "lemonade-service", "--lemonade-host", "0.0.0.0"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BLOCKED: Lemonade would listen on 0.0.0.0 without an API key"), "{out}");
    assert!(out.contains("/etc/lemonade/secrets.conf"), "names where the key goes: {out}");
    assert_eq!(digest, tree_digest(&root));
    assert!(calls(&root).is_empty());
}

#[test]
fn fresh_fedora_installs_configures_and_pulls() {
    let (tmp, root) = fedora44_without_lemonade();
    let rpm = build_rpm(tmp.path());
    let sha = npu_setup::fsx::sha256(&std::fs::read(&rpm).unwrap());
    let (url, hits) = serve(rpm);
    let (_, before) = doctor_json(&root, &[]);
    assert_eq!(check(&before, "lemonade.install")["status"], "fail");

    let args = ["--yes", "--only", STEPS, "--lemonade-package", &url];
    let (code, out, err) = install(&root, &args);
    assert_ne!(code, 2, "{out}\n{err}");
    assert!(!out.contains("install failed"), "{out}\n{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "downloaded once");
    let cached = root.join(format!("var/cache/npu-setup/lemonade-server-{VERSION}-1.noarch.rpm"));
    let pins: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("var/lib/npu-setup/pins.json")).unwrap()).unwrap();
    assert_eq!(pins[&url], sha.as_str(), "hash pinned on first use");
    let c = calls(&root);
    assert_eq!(
        c,
        [
            format!("dnf install -y {}", cached.display()),
            "systemctl daemon-reload".into(),
            "systemctl enable --now lemond.service".into(),
            "flm pull qwen3:4b FLM_MODEL_PATH=/var/lib/flm".into(),
            "flm pull whisper-v3:turbo FLM_MODEL_PATH=/var/lib/flm".into(),
        ]
    );
    // The real rpm database in the tree holds the package.
    let q = std::process::Command::new("rpm")
        .arg("--root")
        .arg(&root)
        .args(["--dbpath", "/var/lib/rpm", "-q", "lemonade-server"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&q.stdout).trim(), format!("lemonade-server-{VERSION}-1.noarch"));
    let dropin = std::fs::read_to_string(root.join("etc/systemd/system/lemond.service.d/50-npu-setup.conf")).unwrap();
    assert!(dropin.contains("\nEnvironment=LEMONADE_PORT=13305\n"), "{dropin}");
    assert!(dropin.contains("UNVERIFIED"), "{dropin}");
    assert!(
        dropin.contains("ExecStartPost=-/usr/local/bin/npu-setup dev lemonade-ready --url http://127.0.0.1:13305"),
        "{dropin}"
    );
    // Lemonade 11.7 runs the flm its config.json names: npu-setup created the file (Lemonade
    // had not started yet) with the installed FastFlowLM and nothing else.
    let config = root.join("var/lib/lemonade/.cache/lemonade/config.json");
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(written, serde_json::json!({"flm": {"npu_bin": "/usr/bin/flm"}}));
    let (_, after) = doctor_json(&root, &[]);
    for id in ["lemonade.install", "lemonade.service", "lemonade.flm"] {
        assert_eq!(check(&after, id)["status"], "pass", "{}", check(&after, id));
    }
    assert_eq!(check(&after, "lemonade.install")["evidence"]["version"], format!("{VERSION}-1"));

    // Second run: nothing planned, downloaded, run or written.
    let digest = tree_digest(&root);
    let (_, out, _) = install(&root, &args);
    assert!(out.contains("Everything is in place"), "{out}");
    assert_eq!(calls(&root), c);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(digest, tree_digest(&root));
}

#[test]
fn dry_run_shows_the_download_and_fetches_nothing() {
    let (tmp, root) = fedora44_without_lemonade();
    let (url, hits) = serve(build_rpm(tmp.path()));
    // The real rpm creates its database files on the first query: let that happen first.
    let _ = doctor_json(&root, &[]);
    let digest = tree_digest(&root);
    let (code, out, _) = install(&root, &["--dry-run", "--only", STEPS, "--lemonade-package", &url]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "- download {url} -> /var/cache/npu-setup/lemonade-server-{VERSION}-1.noarch.rpm (sha256 not pinned yet: recorded on first download in /var/lib/npu-setup/pins.json)"
        )),
        "{out}"
    );
    assert!(out.contains("- run: dnf install -y "), "{out}");
    assert!(out.contains("note: Lemonade is not installed yet (the lemonade step installs it)"), "{out}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    assert_eq!(digest, tree_digest(&root));
    assert!(calls(&root).is_empty());
}

#[test]
fn a_checksum_mismatch_installs_nothing_and_names_both_hashes() {
    let (tmp, root) = fedora44_without_lemonade();
    let rpm = build_rpm(tmp.path());
    let sha = npu_setup::fsx::sha256(&std::fs::read(&rpm).unwrap());
    let wrong = "0".repeat(64);
    // Over HTTP: the download is checked against the pin before anything is installed.
    let (url, _) = serve(rpm.clone());
    std::fs::create_dir_all(root.join("var/lib/npu-setup")).unwrap();
    std::fs::write(root.join("var/lib/npu-setup/pins.json"), format!("{{\"{url}\": \"{wrong}\"}}")).unwrap();
    let (code, out, _) = install(&root, &["--yes", "--only", STEPS, "--lemonade-package", &url]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("sha256 mismatch: expected {wrong}, got {sha}")), "{out}");
    assert!(out.contains("install failed: [lemonade]"), "{out}");
    assert!(!root.join("var/cache/npu-setup").read_dir().is_ok_and(|mut d| d.next().is_some()), "nothing cached");
    assert!(calls(&root).is_empty(), "no dnf: {:?}", calls(&root));
    // A local file is checked while planning: install stops before changing anything.
    let path = rpm.display().to_string();
    std::fs::write(root.join("var/lib/npu-setup/pins.json"), format!("{{\"{path}\": \"{wrong}\"}}")).unwrap();
    let digest = tree_digest(&root);
    let (code, out, _) = install(&root, &["--yes", "--only", STEPS, "--lemonade-package", &path]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("install stops here: [lemonade] sha256 mismatch for"), "{out}");
    assert!(out.contains(&format!("expected {wrong} (pinned in /var/lib/npu-setup/pins.json), got {sha}")), "{out}");
    assert_eq!(digest, tree_digest(&root));
    assert!(calls(&root).is_empty());
}

#[test]
fn a_local_package_path_installs_and_pins() {
    let (tmp, root) = fedora44_without_lemonade();
    let rpm = build_rpm(tmp.path());
    let path = rpm.display().to_string();
    let (code, out, err) = install(&root, &["--yes", "--only", "lemonade", "--lemonade-package", &path]);
    assert_ne!(code, 2, "{out}\n{err}");
    assert!(!out.contains("install failed"), "{out}");
    assert!(calls(&root)[0].starts_with("dnf install -y "), "{:?}", calls(&root));
    let pins = std::fs::read_to_string(root.join("var/lib/npu-setup/pins.json")).unwrap();
    assert!(pins.contains(&path), "{pins}");
}

#[test]
fn an_unreachable_package_url_names_the_url_and_the_option() {
    let (_tmp, root) = fedora44_without_lemonade();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/lemonade-server-{VERSION}-1.noarch.rpm");
    let (code, out, _) = install(&root, &["--yes", "--only", STEPS, "--lemonade-package", &url]);
    assert_eq!(code, 1, "{out}");
    let line = out.lines().find(|l| l.starts_with("install failed:")).unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains(&format!("downloading {url}")), "{line}");
    assert!(line.contains("--lemonade-package URL|PATH"), "{line}");
    assert!(calls(&root).is_empty());
}

/// A loopback Lemonade stand-in: /live answers 503 `warmup` times, then 200; /api/v1/load
/// records its body (and Authorization header) and answers `load_status`.
fn fake_lemonade(warmup: usize, load_status: u16) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        let mut lives = 0;
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            s.set_read_timeout(Some(std::time::Duration::from_millis(500))).unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
                let t = String::from_utf8_lossy(&req);
                if let Some(i) = t.find("\r\n\r\n") {
                    let len = t
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if req.len() >= i + 4 + len {
                        break;
                    }
                }
            }
            let t = String::from_utf8_lossy(&req).into_owned();
            let (status, body) = if t.starts_with("GET /live") {
                lives += 1;
                if lives > warmup { (200, "{\"status\":\"ok\"}") } else { (503, "warming up") }
            } else if t.starts_with("POST /api/v1/load") {
                s2.lock().unwrap().push(t.clone());
                (
                    load_status,
                    if load_status == 200 { "{\"status\":\"success\"}" } else { "{\"error\":\"no such model\"}" },
                )
            } else {
                (404, "")
            };
            let _ = s.write_all(
                format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                    .as_bytes(),
            );
        }
    });
    (url, seen)
}

#[test]
fn lemonade_ready_waits_for_live_then_loads_the_model() {
    let (url, seen) = fake_lemonade(2, 200);
    let out = bin()
        .env("LEMONADE_API_KEY", "s3cret")
        .args(["dev", "lemonade-ready", "--url", &url, "--timeout", "10", "--load", "qwen3-4b-FLM"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("Lemonade answers at {url}/live")), "{stdout}");
    let reqs = seen.lock().unwrap();
    assert_eq!(reqs.len(), 1);
    assert!(reqs[0].contains(r#"{"model_name":"qwen3-4b-FLM"}"#), "{}", reqs[0]);
    assert!(reqs[0].to_ascii_lowercase().contains("authorization: bearer s3cret"), "{}", reqs[0]);
}

#[test]
fn lemonade_ready_fails_clearly() {
    // A failed load is exit 1 with Lemonade's answer.
    let (url, _) = fake_lemonade(0, 404);
    let out =
        bin().args(["dev", "lemonade-ready", "--url", &url, "--timeout", "5", "--load", "nope-FLM"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("loading nope-FLM failed") && err.contains("HTTP 404") && err.contains("no such model"),
        "{err}"
    );
    // Nothing listening: gives up after the timeout, naming the URL.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let started = std::time::Instant::now();
    let out = bin().args(["dev", "lemonade-ready", "--url", &url, "--timeout", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("Lemonade did not answer {url}/live within 1 s")), "{err}");
}
