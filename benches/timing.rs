//! Benchmarks (run with `cargo bench`): doctor's self-time on the healthy fixture, wall time
//! with eight slow command shims (proves concurrency) and with one hung shim (proves the
//! timeout), and an install re-run on a converged host (must be a fast no-op). Prints one
//! line per measurement and exits non-zero when a target is missed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_npu-setup");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hosts").join(name)
}

fn run(root: &Path, extra: &[&str]) -> (Duration, String) {
    let t = Instant::now();
    let out =
        Command::new(BIN).arg("--root").arg(root).args(extra).args(["doctor", "--format", "json"]).output().unwrap();
    (t.elapsed(), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join(name);
    assert!(Command::new("cp").arg("-a").arg(fixture(name)).arg(&dst).status().unwrap().success());
    (tmp, dst)
}

/// Makes a shim sleep before it answers.
fn slow(root: &Path, rel: &str, secs: &str) {
    let p = root.join(rel);
    let body = std::fs::read_to_string(&p).unwrap();
    let body = body.replacen("#!/bin/sh\n", &format!("#!/bin/sh\nsleep {secs}\n"), 1);
    std::fs::write(&p, body).unwrap();
}

/// CPU time (user + system) of this process alone, excluding child processes (the shims).
fn self_cpu() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    let u = getrusage(UsageWho::RUSAGE_SELF).unwrap();
    let tv = |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
    tv(u.user_time()) + tv(u.system_time())
}

/// Doctor's own time, in process: probe + checks + JSON rendering, measured as this
/// process's CPU time so the replay shims' own run time is excluded.
fn self_time(root: &Path, runs: usize) -> (Duration, Duration) {
    use npu_setup::checks::{CheckOptions, run_checks};
    use npu_setup::host::{ProbeOptions, probe_all};
    use npu_setup::recipes::Recipes;
    use npu_setup::root::Root;
    let mut cpu = Vec::new();
    let mut wall = Vec::new();
    for _ in 0..runs {
        let (c0, w0) = (self_cpu(), Instant::now());
        let recipes = Recipes::embedded().unwrap();
        let runner = npu_setup::runner::Runner::new(Root::open(root).unwrap(), Duration::from_secs(10));
        let facts = probe_all(&runner, &recipes, &ProbeOptions::default());
        let results = run_checks(&facts, &recipes, &CheckOptions::default(), &[], &[]);
        let report = npu_setup::checks::report(&facts, &recipes, results);
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.len() > 1000);
        cpu.push(self_cpu() - c0);
        wall.push(w0.elapsed());
    }
    (median(cpu), median(wall))
}

fn main() {
    let mut ok = true;
    let healthy = fixture("fedora43-619-dkms-healthy");
    let (cpu, wall) = self_time(&healthy, 40);
    println!(
        "doctor self-time on healthy fixture (in process, CPU): median {:.1} ms (target <= 20 ms); in-process wall incl. 13 shim runs: {:.1} ms",
        cpu.as_secs_f64() * 1e3,
        wall.as_secs_f64() * 1e3
    );
    ok &= cpu <= Duration::from_millis(20);
    for _ in 0..3 {
        run(&healthy, &[]);
    }
    let samples: Vec<Duration> = (0..40).map(|_| run(&healthy, &[]).0).collect();
    let med = median(samples.clone());
    let max = samples.iter().max().copied().unwrap_or_default();
    println!(
        "whole CLI run on healthy fixture (process start to exit, shims included): median {:.1} ms, max {:.1} ms over {} runs",
        med.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
        samples.len()
    );

    // Eight shims that each take 0.5 s: run concurrently, wall time stays near 0.5 s.
    let (_t, root) = copy("fedora43-619-dkms-healthy");
    let shims = [
        "usr/bin/journalctl",
        "usr/bin/rpm",
        "usr/bin/dkms",
        "usr/bin/mokutil",
        "usr/bin/ldconfig",
        "usr/bin/modinfo",
        "usr/bin/systemctl",
        "opt/fastflowlm/bin/flm",
    ];
    for s in shims {
        slow(&root, s, "0.5");
    }
    let wall = median((0..5).map(|_| run(&root, &[]).0).collect());
    println!("8 shims sleeping 0.5 s each: median wall {:.3} s over 5 runs (target <= 0.6 s)", wall.as_secs_f64());
    ok &= wall <= Duration::from_millis(600);

    // One shim that never exits: doctor returns after the timeout, and that check is `error`.
    let (_t2, root) = copy("fedora43-619-dkms-healthy");
    slow(&root, "opt/fastflowlm/bin/flm", "100000");
    let (wall, out) = run(&root, &["--timeout", "2"]);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let status = r["checks"].as_array().unwrap().iter().find(|c| c["id"] == "flm.validate").unwrap()["status"].clone();
    println!("one hung shim, --timeout 2: wall {:.3} s (target <= 3 s), flm.validate = {status}", wall.as_secs_f64());
    ok &= wall <= Duration::from_secs(3) && status == "error";

    // install on a converged host: plans every step, changes nothing.
    let (_t3, root) = copy("fedora44-71-intree-healthy");
    let install = |root: &Path| {
        let t = Instant::now();
        let out =
            // `lifecycle` would enable units with systemctl, which cannot run here.
            Command::new(BIN)
                .arg("--root")
                .arg(root)
                .args(["install", "--yes", "--user", "alice", "--skip", "lifecycle"])
                .output()
                .unwrap();
        (t.elapsed(), String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code())
    };
    let (_, first, code) = install(&root);
    assert!(first.contains("Everything is in place"), "{first}");
    assert_eq!(code, Some(0));
    let wall = median((0..10).map(|_| install(&root).0).collect());
    println!(
        "install re-run on a converged host (no-op): median wall {:.3} s over 10 runs (target <= 0.5 s)",
        wall.as_secs_f64()
    );
    ok &= wall <= Duration::from_millis(500);

    // The kernel-install hook: `check --kernel KVER --hook` on a DKMS host (modinfo, dkms
    // status and mokutil replayed by shims), recording its result.
    let (_t4, root) = copy("fedora43-619-dkms-healthy");
    let hook = |root: &Path| {
        let t = Instant::now();
        let out = Command::new(BIN)
            .arg("--root")
            .arg(root)
            .args(["-q", "check", "--kernel", "6.19.10-200.fc43.x86_64", "--hook"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        t.elapsed()
    };
    let wall = median((0..20).map(|_| hook(&root)).collect());
    println!(
        "kernel hook (check --kernel --hook, DKMS host): median wall {:.1} ms over 20 runs (target <= 200 ms)",
        wall.as_secs_f64() * 1e3
    );
    ok &= wall <= Duration::from_millis(200);

    if !ok {
        eprintln!("a benchmark target was missed");
        std::process::exit(1);
    }
}
