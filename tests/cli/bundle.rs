//! `doctor --bundle`: a support bundle seeded with realistic secrets carries none of them
//! (file contents, names, link targets, the raw tar stream), extracts with the real `tar`
//! into a fixture that replays the same verdict, says what it redacted, and is written
//! atomically with clear errors.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use super::{RECORD, bin, calls, copy_fixture, fixture, write_shim};

/// Every seeded secret, lowercase: none may appear anywhere in a bundle, in any case.
const SECRETS: &[&str] = &[
    "strix-lab-07",
    "corp.example.com",
    "alice",
    "nguyen",
    "lab 3",
    "+1-555-0100",
    "sk-live-4f9c2a7e",
    "4f9c2a7e1b3d5f60a8c9e2d4b6f1a3c5",
    "qmxr7vt2plk9wcy4nzs8jdh3bfa6geu1or",
    "battery staple",
    "eyjhbgcioijiuzi1nij9",
    "3c:7c:3f:1a:2b:4d",
    "3c7c3f1a2b4d",
    "pf4abc1234",
    "bsn-7q2x9k41",
    "4c4c4544-0042-3510-8051-b4c04f4e4b33",
    "192.168.50.23",
    "10.20.30.40",
    "fe80::3e7c:3fff:fe1a:2b4d",
    "fd12:3456:789a::23",
    "200eb11b39b7df6bcbbdd3b41e27fd0b",
    "1f0e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b",
    "1f0e2d3c4b5a49788a9b0c1d2e3f4a5b",
    "flagsecret99",
    "tok-flag-77",
    "pw-flag-55",
    "miievqibadanbgkqhkig9w0baqefaasc",
];

const API_KEY: &str = "sk-live-4f9c2a7e1b3d5f60a8c9e2d4b6f1a3c5";
const HF_TOKEN: &str = "hf_QmXr7vT2pLk9WcY4nZs8JdH3bFa6GeU1oR";

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn append(root: &Path, rel: &str, text: &str) {
    let old = std::fs::read_to_string(root.join(rel)).unwrap();
    write(root, rel, &(old + text));
}

fn replace(root: &Path, rel: &str, from: &str, to: &str) {
    let old = std::fs::read_to_string(root.join(rel)).unwrap();
    assert!(old.contains(from), "{rel} has no {from:?}");
    write(root, rel, &old.replacen(from, to, 1));
}

/// The healthy Fedora fixture as a lab machine would have it: its host name, a NIC, DMI
/// serials, a second real user with a home and groups, Lemonade secrets in an env file and
/// a unit drop-in (and so in `systemctl show`), addresses and ids in the kernel log.
fn seeded() -> (tempfile::TempDir, PathBuf) {
    let (tmp, root) = copy_fixture("fedora43-619-dkms-healthy");
    let r = root.as_path();
    write(r, "etc/hostname", "strix-lab-07.corp.example.com\n");
    write(r, "proc/sys/kernel/hostname", "strix-lab-07\n");
    write(r, "proc/sys/kernel/random/boot_id", "1f0e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b\n");
    write(r, "sys/class/net/enp3s0/address", "3c:7c:3f:1a:2b:4d\n");
    write(r, "sys/class/dmi/id/product_serial", "PF4ABC1234\n");
    write(r, "sys/class/dmi/id/board_serial", "BSN-7Q2X9K41\n");
    write(r, "sys/class/dmi/id/product_uuid", "4C4C4544-0042-3510-8051-B4C04F4E4B33\n");
    append(r, "etc/passwd", "alice.nguyen:x:1001:1001:Alice Nguyen,Lab 3,+1-555-0100:/home/alice.nguyen:/bin/bash\n");
    replace(r, "etc/group", "wheel:x:10:alice", "wheel:x:10:alice,alice.nguyen");
    replace(r, "etc/group", "render:x:105:lemonade", "render:x:105:lemonade,alice.nguyen");
    append(r, "etc/group", "alice.nguyen:x:1001:\n");
    write(r, "home/alice.nguyen/.keep", "");
    write(
        r,
        "etc/lemonade/secrets.conf",
        &format!(
            "# Lemonade secrets for strix-lab-07.corp.example.com, owner alice.nguyen@corp.example.com\n\
             # asset PF4ABC1234, board BSN-7Q2X9K41, NIC enp3s0 3c:7c:3f:1a:2b:4d\n\
             # check: curl -H \"Authorization: Bearer {API_KEY}\" http://10.20.30.40:13305/api/v1/health\n\
             LEMONADE_API_KEY={API_KEY}\n\
             HF_TOKEN={HF_TOKEN}\n\
             UPSTREAM_URL=http://10.20.30.40:8000/v1\n\
             LEMONADE_ALLOWED_CLIENTS=192.168.50.23,fd12:3456:789a::23\n\
             ADMIN_PASSWORD=\"correct horse battery staple\"\n\
             SESSION_JWT=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlMTIz\n"
        ),
    );
    write(
        r,
        "etc/systemd/system/lemond.service.d/10-secrets.conf",
        &format!(
            "[Service]\nEnvironment=\"LEMONADE_API_KEY={API_KEY}\" \"HF_TOKEN={HF_TOKEN}\"\n\
             Environment=\"LEMOND_ARGS=--api-key FLAGSECRET99 --token=tok-flag-77 -p pw-flag-55\"\n\
             EnvironmentFile=/etc/lemonade/secrets.conf\n"
        ),
    );
    replace(
        r,
        "usr/bin/systemctl",
        "Environment=PATH=/opt/fastflowlm/bin:/usr/local/bin:/usr/bin FLM_MODEL_PATH=/var/lib/flm",
        &format!(
            "Environment=LEMONADE_API_KEY={API_KEY} HF_TOKEN={HF_TOKEN} PATH=/opt/fastflowlm/bin:/usr/local/bin:/usr/bin FLM_MODEL_PATH=/var/lib/flm"
        ),
    );
    replace(
        r,
        "usr/bin/systemctl",
        "DropInPaths=/etc/systemd/system/lemond.service.d/override.conf",
        "DropInPaths=/etc/systemd/system/lemond.service.d/10-secrets.conf /etc/systemd/system/lemond.service.d/override.conf",
    );
    // A private key under an innocuous name.
    write(
        r,
        "etc/lemonade/conf.d/90-site.conf",
        "# site settings\nLEMONADE_LOG_LEVEL=info\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n",
    );
    // Lines the excerpt drops (no NPU keyword) and, to prove redaction inside what it keeps,
    // synthetic IOMMU lines carrying the same identifiers.
    replace(
        r,
        "usr/bin/journalctl",
        "[drm] Initialized amdxdna_accel_driver 1.0.0 for 0000:c6:00.1 on minor 0\n",
        "[drm] Initialized amdxdna_accel_driver 1.0.0 for 0000:c6:00.1 on minor 0\n\
         r8169 0000:03:00.0 eth0: RTL8125B, 3c:7c:3f:1a:2b:4d, XID 641, IRQ 141\n\
         IPv4: martian source 192.168.50.23 from 10.20.30.40, on dev enp3s0\n\
         DMI: ASUSTeK COMPUTER INC. ROG Flow Z13, BIOS 308 serial PF4ABC1234\n\
         iommu: netconsole on strix-lab-07.corp.example.com to 192.168.50.23 via fe80::3e7c:3fff:fe1a:2b4d (3c:7c:3f:1a:2b:4d)\n\
         iommu: boot 1f0e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b on 4C4C4544-0042-3510-8051-B4C04F4E4B33 board PF4ABC1234\n",
    );
    (tmp, root)
}

/// Runs `doctor --bundle` on `root` with extra doctor arguments; returns (exit code, stderr).
fn make_bundle(root: &Path, file: &Path, extra: &[&str]) -> (i32, String) {
    let o = bin()
        .arg("--root")
        .arg(root)
        .args(["doctor", "--format", "json"])
        .args(extra)
        .arg("--bundle")
        .arg(file)
        .output()
        .unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Extracts with the real tar into `into`; returns the single top directory.
fn extract(file: &Path, into: &Path) -> PathBuf {
    std::fs::create_dir_all(into).unwrap();
    let st = StdCommand::new("tar").arg("xzf").arg(file).arg("-C").arg(into).status().unwrap();
    assert!(st.success(), "tar xzf {} failed", file.display());
    let tops: Vec<PathBuf> = std::fs::read_dir(into).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(tops.len(), 1, "one top directory: {tops:?}");
    tops.into_iter().next().unwrap()
}

/// Every file name, link target and content under `dir` (lowercased), with its path.
fn tree_text(dir: &Path, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        let name = p.display().to_string();
        out.push((name.clone(), p.file_name().unwrap().to_string_lossy().to_lowercase()));
        if meta.file_type().is_symlink() {
            out.push((name, std::fs::read_link(&p).unwrap().to_string_lossy().to_lowercase()));
        } else if meta.is_dir() {
            tree_text(&p, out);
        } else {
            out.push((name, String::from_utf8_lossy(&std::fs::read(&p).unwrap()).to_lowercase()));
        }
    }
}

/// What doctor concluded on a root: every check's (id, status), and the diagnosis.
fn verdict(root: &Path, extra: &[&str]) -> (Vec<(String, String)>, serde_json::Value) {
    let (_, v) = super::doctor_json(root, extra);
    let checks = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c["status"].as_str().unwrap().to_string()))
        .collect();
    (checks, v["diagnosis"].clone())
}

#[test]
fn bundle_of_a_seeded_host_carries_no_secret_and_replays_its_verdict() {
    let (tmp, root) = seeded();
    let user = ["--user", "alice.nguyen"];
    let file = tmp.path().join("bug-report.tar.gz");
    let (code, err) = make_bundle(&root, &file, &user);
    let (want_code, _) = super::doctor_json(&root, &user);
    assert_eq!(code, want_code, "the bundle does not change doctor's exit code: {err}");
    assert!(err.contains(&format!("wrote support bundle {}", file.display())), "{err}");
    for s in SECRETS {
        assert!(!err.to_lowercase().contains(s), "stderr names {s}: {err}");
    }

    // Not a byte of any seeded secret in the decompressed stream (headers included)…
    let raw = {
        use std::io::Read;
        let mut d = flate2::read::GzDecoder::new(std::fs::File::open(&file).unwrap());
        let mut v = Vec::new();
        d.read_to_end(&mut v).unwrap();
        String::from_utf8_lossy(&v).to_lowercase()
    };
    for s in SECRETS {
        assert!(!raw.contains(s), "the tar stream contains {s}");
    }
    // …nor in any extracted name, link target or file.
    let top = extract(&file, &tmp.path().join("x"));
    assert_eq!(top.file_name().unwrap(), "bug-report");
    let mut all = Vec::new();
    tree_text(&top, &mut all);
    assert!(all.len() > 100, "a whole fixture: {} entries", all.len());
    for (path, text) in &all {
        for s in SECRETS {
            assert!(!text.contains(s), "{path} contains {s}");
        }
    }

    // The secrets were there to be found: the files that held them are in, redacted.
    let secrets = std::fs::read_to_string(top.join("etc/lemonade/secrets.conf")).unwrap();
    assert!(secrets.contains("LEMONADE_API_KEY=<redacted>\nHF_TOKEN=<redacted>\n"), "{secrets}");
    assert!(secrets.contains("UPSTREAM_URL=http://192.0.2."), "{secrets}");
    let dropin = std::fs::read_to_string(top.join("etc/systemd/system/lemond.service.d/10-secrets.conf")).unwrap();
    assert!(dropin.contains("Environment=\"LEMONADE_API_KEY=<redacted>\" \"HF_TOKEN=<redacted>\""), "{dropin}");
    assert!(dropin.contains("LEMOND_ARGS=--api-key <redacted> --token=<redacted> -p <redacted>"), "{dropin}");
    let site = std::fs::read_to_string(top.join("etc/lemonade/conf.d/90-site.conf")).unwrap();
    assert!(site.contains("-----BEGIN PRIVATE KEY-----\n<redacted>\n-----END PRIVATE KEY-----"), "{site}");
    let passwd = std::fs::read_to_string(top.join("etc/passwd")).unwrap();
    assert!(passwd.contains("user1:x:1000:1000::/home/user1:/bin/bash"), "{passwd}");
    assert!(passwd.contains("user2:x:1001:1001::/home/user2:/bin/bash"), "{passwd}");
    let group = std::fs::read_to_string(top.join("etc/group")).unwrap();
    assert!(group.contains("render:x:105:lemonade,user2") && group.contains("wheel:x:10:user1,user2"), "{group}");
    let log = std::fs::read_to_string(top.join("bin/.replay/journalctl/1.out")).unwrap();
    // The same address is the same documentation address in every file.
    let client = secrets.split("LEMONADE_ALLOWED_CLIENTS=").nth(1).unwrap().split(',').next().unwrap();
    assert!(client.starts_with("192.0.2."), "{secrets}");
    assert!(log.contains(&format!("iommu: netconsole on host.example to {client} via 2001:db8::")), "{log}");
    assert!(log.contains("(02:00:00:00:00:00)\n") && log.contains("board REDACTED\n"), "{log}");
    assert!(!log.contains("martian") && !log.contains("r8169"), "lines without NPU keywords are left out: {log}");

    // It is a fixture: doctor replays the verdict, for the same (renamed) target user.
    let yaml = std::fs::read_to_string(top.join(".fixture.yaml")).unwrap();
    assert!(yaml.contains("user: user2"), "{yaml}");
    let (checks, diagnosis) = verdict(&top, &[]);
    let (want_checks, want) = verdict(&root, &user);
    assert_eq!(checks, want_checks, "check statuses differ between the host and its bundle");
    assert_eq!((&diagnosis["state"], &diagnosis["first_failure"]), (&want["state"], &want["first_failure"]));

    // The report, facts and manifest.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(top.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["kind"], "DoctorReport");
    assert_eq!(report["diagnosis"], diagnosis, "the bundled report says what the replay says");
    let facts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(top.join("facts.json")).unwrap()).unwrap();
    assert_eq!(facts["users"]["value"]["name"], "user2");
    let text = std::fs::read_to_string(top.join("report.txt")).unwrap();
    assert!(text.contains("npu-setup doctor: Fedora Linux 43"), "{text}");
    let firmware = std::fs::read_to_string(top.join("firmware.txt")).unwrap();
    assert!(firmware.contains("/lib/firmware/amdnpu/17f0_11/npu.dev.sbin  531 bytes  sha256:"), "{firmware}");
    let packages = std::fs::read_to_string(top.join("packages.txt")).unwrap();
    assert!(packages.contains("# packages doctor asked rpm about"), "{packages}");
    let manifest = std::fs::read_to_string(top.join("MANIFEST")).unwrap();
    assert!(manifest.contains("npu-setup --root bug-report doctor"), "{manifest}");
    assert!(manifest.contains("etc/systemd/system/lemond.service.d/10-secrets.conf"), "{manifest}");
    for what in [
        "API keys, tokens, passwords",
        "host and domain names",
        "user names",
        "real names",
        "e-mail addresses",
        "machine and boot ids",
        "serial numbers",
        "UUIDs",
        "MAC addresses",
        "IPv4 addresses",
        "IPv6 addresses",
    ] {
        let line = manifest.lines().find(|l| l.ends_with(what) || l.contains(&format!(" {what} ")));
        let line = line.unwrap_or_else(|| panic!("the manifest counts no {what}:\n{manifest}"));
        let n: usize = line.split_whitespace().next().unwrap().parse().unwrap();
        assert!(n > 0, "{line}");
    }
    let secrets_line = manifest.lines().find(|l| l.contains("API keys, tokens")).unwrap();
    let distinct: usize = secrets_line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(distinct >= 5, "key, token, password, bearer, JWT: {secrets_line}");
}

#[test]
fn bundles_of_fixtures_replay_their_verdicts() {
    for name in ["fedora44-71-intree-healthy", "case09-iommu-off-70rc2", "secureboot-unsigned-dkms", "desktop-no-npu"] {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join(format!("{name}.tgz"));
        let (code, err) = make_bundle(&fixture(name), &file, &[]);
        assert!(code == 0 || code == 1, "{name}: exit {code}: {err}");
        let top = extract(&file, &tmp.path().join("x"));
        assert_eq!(verdict(&top, &[]), verdict(&fixture(name), &[]), "{name}: the bundle replays another verdict");
        let listing: Vec<String> =
            std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(listing.len(), 2, "{name}: no temporary files left next to the bundle: {listing:?}");
    }
}

#[test]
fn replaying_a_bundle_executes_nothing_from_it() {
    let name = "fedora44-71-intree-healthy";
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("npu-bug.tar.gz");
    let (code, err) = make_bundle(&fixture(name), &file, &[]);
    assert!(code == 0 || code == 1, "exit {code}: {err}");
    let top = extract(&file, &tmp.path().join("x"));
    // Recorded runs are data in .fixture.yaml, and what stands at a program's path is no script.
    let yaml = std::fs::read_to_string(top.join(".fixture.yaml")).unwrap();
    assert!(yaml.contains("commands:") && yaml.contains("program: bin/rpm"), "{yaml}");
    assert!(!std::fs::read_to_string(top.join("bin/rpm")).unwrap().starts_with("#!"));
    // A hostile sender turns every file under bin/ into a script that leaves a marker, and
    // adds one for a program the capture did not record.
    let marker = tmp.path().join("pwned");
    let script = format!("#!/bin/sh\ntouch {}\necho hijacked\n", marker.display());
    let mut scripts = 0;
    for e in std::fs::read_dir(top.join("bin")).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::write(&p, &script).unwrap();
            scripts += 1;
        }
    }
    assert!(scripts > 3, "{scripts} programs replayed");
    write_shim(&top, "bin/dkms", &format!("touch {}", marker.display()));
    let run = |cmd: &mut assert_cmd::Command| {
        let o = cmd.env_remove("NPU_SETUP_FIXTURE_SCRIPTS").output().unwrap();
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let report = run(bin().arg("--root").arg(&top).args(["doctor", "--format", "json"]));
    assert!(!marker.exists(), "doctor ran a script from the bundle");
    let (want_checks, want) = verdict(&fixture(name), &[]);
    let checks: Vec<(String, String)> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c["status"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(checks, want_checks, "the replay still reaches the same verdicts");
    assert_eq!(report["diagnosis"], want);
    // Nor do the facts.
    let _ = bin().env_remove("NPU_SETUP_FIXTURE_SCRIPTS").arg("--root").arg(&top).args(["dev", "facts"]).output();
    assert!(!marker.exists(), "a replay ran a script from the bundle");
    // Not even where the hand-written fixtures' variable is set (as `cargo` sets it in this
    // repository): a tree with a bundle's MANIFEST never runs its files.
    let _ = bin().env("NPU_SETUP_FIXTURE_SCRIPTS", "1").arg("--root").arg(&top).args(["doctor"]).output();
    assert!(!marker.exists(), "a replay ran a script from the bundle with NPU_SETUP_FIXTURE_SCRIPTS=1");
}

#[test]
fn a_bundle_replaces_an_old_one_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("b.tar.gz");
    std::fs::write(&file, "old").unwrap();
    // What a killed bundle run left (its pid is gone: pid_max is at most 2^22) goes.
    std::fs::create_dir_all(tmp.path().join(".npu-setup-bundle-4194305-Ab12Cd/tree/etc")).unwrap();
    std::fs::write(tmp.path().join(".npu-setup-bundle-4194305-b.tar.gz.Xy12Zw.tmp"), "half").unwrap();
    let (code, err) = make_bundle(&fixture("case02-halo-619-intree-proto7"), &file, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("left by an interrupted `doctor --bundle`"), "{err}");
    assert_ne!(std::fs::read(&file).unwrap(), b"old");
    let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("b.tar.gz")]);
}

/// The binary, run as `nobody` when the tests run as root (root ignores directory modes).
fn unprivileged() -> assert_cmd::Command {
    if !nix::unistd::geteuid().is_root() {
        return bin();
    }
    let mut c = StdCommand::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(assert_cmd::cargo::cargo_bin("npu-setup"));
    let mut c = assert_cmd::Command::from_std(c);
    c.env("NO_COLOR", "1").env("LANG", "C.UTF-8").env_remove("LC_ALL").env_remove("SUDO_USER").env_remove("RUST_LOG");
    c
}

#[test]
fn an_unwritable_destination_is_a_clear_error_and_leaves_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tmp.path().join("ro");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let file = dir.join("b.tar.gz");
    // The unprivileged user must be able to read the fixture wherever the checkout lives
    // (a clone under a 0700 directory is not readable by nobody): a world-readable copy.
    let (fx_tmp, root) = copy_fixture("case02-halo-619-intree-proto7");
    std::fs::set_permissions(fx_tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = unprivileged().arg("--root").arg(&root).args(["doctor", "--bundle"]).arg(&file).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("error: writing support bundle {}: ", file.display())), "{err}");
    assert!(err.contains("Permission denied"), "{err}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "nothing written");
}

#[test]
fn a_missing_directory_or_a_directory_as_file_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope/b.tar.gz");
    let (code, err) = make_bundle(&fixture("case02-halo-619-intree-proto7"), &missing, &[]);
    assert_eq!(code, 2, "{err}");
    let want = format!(
        "error: writing support bundle {}: directory {} does not exist",
        missing.display(),
        tmp.path().join("nope").display()
    );
    assert!(err.contains(&want), "{err}");
    let dir = tmp.path().join("d.tar.gz");
    std::fs::create_dir(&dir).unwrap();
    let (code, err) = make_bundle(&fixture("case02-halo-619-intree-proto7"), &dir, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{} is a directory", dir.display())), "{err}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1, "nothing but the directory");
}

#[test]
fn a_bundle_killed_mid_write_leaves_the_old_file_alone() {
    let (tmp, root) = copy_fixture("fedora43-619-dkms-healthy");
    // rpm answers slowly and logs each call: doctor's probe runs it first, the capture
    // re-runs it after the bundle's temporary file exists.
    std::fs::rename(root.join("usr/bin/rpm"), root.join("usr/bin/rpm.real")).unwrap();
    write_shim(&root, "usr/bin/rpm", &format!("{RECORD}\nsleep 1\nexec \"$0.real\" \"$@\""));
    let _ = super::doctor_json(&root, &[]);
    let probe_calls = calls(&root).len();
    assert!(probe_calls > 0);
    std::fs::remove_file(tmp.path().join("calls.log")).unwrap();

    let file = tmp.path().join("b.tar.gz");
    std::fs::write(&file, "old").unwrap();
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("npu-setup"))
        .arg("--root")
        .arg(&root)
        .args(["doctor", "--bundle"])
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while calls(&root).len() <= probe_calls {
        assert!(Instant::now() < deadline, "the capture never re-ran rpm");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), b"old", "FILE is replaced only by a finished bundle");
}
