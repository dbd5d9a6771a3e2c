//! Kickstart `%post`: a real chroot. A minimal Debian userland (debootstrap, cached by
//! .ci/chroot-base.sh) gets the Fedora 44 fixture's tree laid over it (boot entries,
//! /lib/modules with the target kernel, firmware, os-release, replay shims for rpm/flm),
//! real ELF XRT libraries (gcc) and real device nodes (mknod); then `npu-setup install` runs
//! under `unshare --pid --mount` + `chroot(8)`, so the running kernel is this machine's —
//! not the target's — and PID 1 is outside the chroot, as in Anaconda. `%post --nochroot`
//! is the same tree driven from outside with `--root`. Needs root (chroot, mknod).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::{bin, fixture};

const FIXTURE: &str = "fedora44-71-intree-healthy";
const TARGET: &str = "7.1.4-200.fc44.x86_64";

pub(crate) fn base_tar() -> PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        if let Ok(p) = std::env::var("CHROOT_BASE_TAR") {
            return p.into();
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/chroot-base.sh");
        let out = Command::new("bash").arg(script).stderr(Stdio::inherit()).output().expect("run .ci/chroot-base.sh");
        assert!(out.status.success(), ".ci/chroot-base.sh failed");
        String::from_utf8_lossy(&out.stdout).trim().strip_prefix("CHROOT_BASE_TAR=").unwrap().into()
    })
    .clone()
}

fn run(cmd: &mut Command) {
    let st = cmd.status().unwrap();
    assert!(st.success(), "{cmd:?} failed");
}

/// Debian userland + the fixture's tree + what the probes need to be real.
fn scratch_system(dir: &Path, with_binary: bool) -> PathBuf {
    let r = dir.join("sysimage");
    std::fs::create_dir_all(&r).unwrap();
    run(Command::new("tar").arg("-xf").arg(base_tar()).arg("-C").arg(&r));
    let fx = fixture(FIXTURE);
    for e in std::fs::read_dir(&fx).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == ".fixture.yaml" {
            continue; // a real tree now, not a fixture
        }
        let dst = r.join(&name);
        // Merged /usr: bin, sbin, lib are symlinks in the Debian tree.
        let mut cp = Command::new("cp");
        if std::fs::symlink_metadata(&dst).is_ok_and(|m| m.file_type().is_symlink()) {
            cp.arg("-a").arg(e.path().join(".")).arg(format!("{}/", dst.display()));
        } else {
            cp.arg("-a").arg(e.path()).arg(&r);
        }
        run(&mut cp);
    }
    // The real systemctl and ldconfig of the userland, not the fixture's replays.
    for shim in ["usr/bin/systemctl", "usr/bin/ldconfig"] {
        let _ = std::fs::remove_file(r.join(shim));
    }
    run(Command::new("cp").arg("/usr/bin/systemctl").arg(r.join("usr/bin/systemctl")));
    // Real ELF XRT libraries so the real ldconfig caches them.
    let c = dir.join("x.c");
    std::fs::write(&c, "int xrt_placeholder(void) { return 0; }\n").unwrap();
    for so in ["libxrt_coreutil.so.2", "libxrt_core.so.2", "libxrt_driver_xdna.so.2"] {
        let p = r.join("opt/xilinx/xrt/lib64").join(so);
        let _ = std::fs::remove_file(&p);
        run(Command::new("gcc").args(["-shared", "-fPIC", &format!("-Wl,-soname,{so}"), "-o"]).arg(&p).arg(&c));
    }
    // Real device nodes (in Anaconda /dev is the installer's devtmpfs, the same hardware).
    for (node, major, minor) in [("dev/accel/accel0", "261", "0"), ("dev/dri/renderD128", "226", "128")] {
        let p = r.join(node);
        let _ = std::fs::remove_file(&p);
        run(Command::new("mknod").args(["-m", "0660"]).arg(&p).args(["c", major, minor]));
        run(Command::new("chown").arg("0:105").arg(&p));
    }
    // Break what %post must fix offline: the kernel arguments and the memlock limit.
    for e in std::fs::read_dir(r.join("boot/loader/entries")).unwrap() {
        let p = e.unwrap().path();
        let t = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, t.replace("rhgb quiet", "rhgb quiet amd_iommu=off")).unwrap();
    }
    let _ = std::fs::remove_dir_all(r.join("etc/security/limits.d"));
    let _ = std::fs::remove_dir_all(r.join("etc/systemd/system/user@.service.d"));
    // Fedora's grubby cannot run here: a fake that edits the BLS options, run in the tree.
    crate::write_shim(
        &r,
        "usr/sbin/grubby",
        "echo \"grubby $*\" >> /var/log/grubby-calls.log\n\
         for a in \"$@\"; do case \"$a\" in --remove-args=*) args=\"${a#--remove-args=}\";; esac; done\n\
         for f in /boot/loader/entries/*.conf; do for x in $args; do sed -i \"/^options /s/ $x//g\" \"$f\"; done; done",
    );
    std::fs::create_dir_all(r.join("etc/npu-setup")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/kickstart/install.yaml"),
        r.join("etc/npu-setup/install.yaml"),
    )
    .unwrap();
    if with_binary {
        std::fs::create_dir_all(r.join("usr/local/bin")).unwrap();
        run(Command::new("cp").arg(env!("CARGO_BIN_EXE_npu-setup")).arg(r.join("usr/local/bin/npu-setup")));
    }
    r
}

/// Runs a command inside the tree as kickstart's `%post` does: chrooted, with /proc
/// mounted, PID 1 outside the chroot.
pub(crate) fn in_chroot(r: &Path, argv: &[&str]) -> (i32, String) {
    let script = format!(
        "mount -t proc proc '{r}/proc' && chroot '{r}' {}",
        argv.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(" "),
        r = r.display()
    );
    let out = Command::new("unshare").args(["--mount", "--pid", "--fork", "sh", "-c", &script]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn link(r: &Path, rel: &str) -> Option<PathBuf> {
    std::fs::read_link(r.join(rel)).ok()
}

#[test]
fn post_in_a_chroot_targets_the_installed_kernel_does_the_offline_steps_and_leaves_a_firstboot_unit() {
    assert!(nix_is_root(), "needs root (chroot, mknod): run the suite as root, as .ci/run does");
    let tmp = tempfile::tempdir().unwrap();
    let r = scratch_system(tmp.path(), true);
    let host_kernel = nix_uname();
    assert_ne!(host_kernel, TARGET, "the test needs the running kernel to differ from the target");

    let (code, out) = in_chroot(
        &r,
        &["/usr/local/bin/npu-setup", "--color", "never", "install", "--config", "/etc/npu-setup/install.yaml"],
    );
    assert!(code == 0 || code == 3, "exit {code}\n{out}");
    assert!(out.contains("Installing inside a chroot"), "{out}");
    assert!(out.contains(&format!("the kernel running this, {host_kernel}, is the installer's")), "{out}");
    assert!(out.contains(&format!("Target kernel: {TARGET}")), "{out}");
    // Offline-safe steps done, in the tree.
    for e in std::fs::read_dir(r.join("boot/loader/entries")).unwrap() {
        let t = std::fs::read_to_string(e.unwrap().path()).unwrap();
        assert!(!t.contains("amd_iommu"), "{t}");
    }
    assert!(r.join("etc/security/limits.d/99-npu-setup-memlock.conf").is_file());
    let group = std::fs::read_to_string(r.join("etc/group")).unwrap();
    assert!(group.lines().any(|l| l.starts_with("render:") && l.contains("alice")), "{group}");
    // Services enabled by the real systemctl (a chroot: symlinks), never started.
    assert!(!out.contains("daemon-reload") && !out.contains("systemctl start") && !out.contains("restart"), "{out}");
    for unit in ["npu-setup-boot.service", "npu-setup-firstboot.service"] {
        assert_eq!(
            link(&r, &format!("etc/systemd/system/multi-user.target.wants/{unit}")),
            Some(PathBuf::from(format!("/etc/systemd/system/{unit}"))),
            "{unit} enabled"
        );
        let text = std::fs::read_to_string(r.join(format!("etc/systemd/system/{unit}"))).unwrap();
        assert!(text.contains("ExecStart=/usr/local/bin/npu-setup "), "{text}");
    }
    let plugin = std::fs::read_to_string(r.join("etc/kernel/install.d/95-npu-setup.install")).unwrap();
    assert!(plugin.contains("NPU_SETUP=\"${NPU_SETUP:-/usr/local/bin/npu-setup}\""), "{plugin}");
    // What the first boot will finish with.
    assert!(r.join("var/lib/npu-setup/firstboot").is_file());
    let fb = std::fs::read_to_string(r.join("etc/npu-setup/firstboot.yaml")).unwrap();
    assert!(fb.contains("user: alice") && fb.contains("whisper-v3:turbo"), "{fb}");
    assert!(out.contains("models are pulled when install runs on the installed system"), "{out}");

    // Idempotent in the chroot too.
    let (code2, out2) = in_chroot(
        &r,
        &["/usr/local/bin/npu-setup", "--color", "never", "install", "--config", "/etc/npu-setup/install.yaml"],
    );
    assert!(code2 == 0 || code2 == 3, "{out2}");
    assert!(out2.contains("Everything is in place: nothing to change."), "{out2}");

    // Per-kernel readiness inside the chroot judges the tree's kernels, not the installer's.
    let (code3, m) = in_chroot(&r, &["/usr/local/bin/npu-setup", "--format", "json", "check", "--next-boot"]);
    assert_eq!(code3, 0, "{m}");
    let v: serde_json::Value = serde_json::from_str(&m).unwrap();
    assert_eq!(v["default"], TARGET);
    assert!(v["running"].is_null(), "{v}");
    assert_eq!(v["kernels"][0]["kargs"]["status"], "pass", "{v}");
}

#[test]
fn post_nochroot_drives_the_tree_with_root_and_copies_the_binary_in() {
    assert!(nix_is_root(), "needs root (mknod): run the suite as root, as .ci/run does");
    let tmp = tempfile::tempdir().unwrap();
    let r = scratch_system(tmp.path(), false);
    // From outside: an offline root. Only the steps that need no package manager of the
    // target (Lemonade and the source builds go through dnf --installroot, not here).
    let out = bin()
        .arg("--root")
        .arg(&r)
        .args(["--color", "never", "install", "--config"])
        .arg(r.join("etc/npu-setup/install.yaml"))
        .args(["--only", "kargs,loader,limits,access,lifecycle"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.code().is_some_and(|c| c == 0 || c == 3), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("Installing into an offline root"), "{text}");
    assert!(r.join("usr/local/bin/npu-setup").is_file(), "binary copied in for the hooks and units");
    assert!(text.contains(&format!("systemctl --root={} enable npu-setup-boot.service", r.display())), "{text}");
    assert!(link(&r, "etc/systemd/system/multi-user.target.wants/npu-setup-firstboot.service").is_some());
    assert!(r.join("var/lib/npu-setup/firstboot").is_file());
    assert!(r.join("etc/ld.so.cache").is_file());
}

#[test]
fn the_kickstart_snippets_are_valid_kickstart() {
    // pykickstart's own validator, from PyPI (installed and cached by .ci/pykickstart.sh).
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/pykickstart.sh");
    let out = Command::new("bash").arg(script).stderr(Stdio::inherit()).output().unwrap();
    assert!(out.status.success());
    let pp = String::from_utf8_lossy(&out.stdout).trim().strip_prefix("PYKICKSTART_PYTHONPATH=").unwrap().to_string();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/kickstart");
    let validator = Path::new(&pp).join("bin/ksvalidator");
    let validate = |file: &Path| {
        Command::new("python3")
            .arg(&validator)
            .args(["-v", "RHEL10"])
            .arg(file)
            .env("PYTHONPATH", &pp)
            .output()
            .unwrap()
    };
    for ks in ["post-chroot.ks", "post-nochroot.ks"] {
        let v = validate(&dir.join(ks));
        assert!(
            v.status.success(),
            "{ks}: {}{}",
            String::from_utf8_lossy(&v.stdout),
            String::from_utf8_lossy(&v.stderr)
        );
    }
    // The validator does reject a broken one.
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), "%post\necho hi\n%endx\n").unwrap();
    assert!(!validate(bad.path()).status.success());
}

fn nix_is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn nix_uname() -> String {
    String::from_utf8(Command::new("uname").arg("-r").output().unwrap().stdout).unwrap().trim().to_string()
}
