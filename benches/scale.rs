//! Scale benchmark (`cargo bench --bench scale`): doctor on the healthy fixture at 1× and on
//! the same host grown to 500 PCI functions, 20 installed kernels and a 200,000-line kernel
//! log (generated into a temporary tree), the growth series of each dimension alone, the
//! whole run's peak memory as the log grows, and the whole run against the same checks typed
//! as a shell script (`benches/doctor-checks.sh`) on the same tree. Prints one line per
//! measurement and exits non-zero when a target is missed (doctor's own CPU time at scale
//! <= 100 ms).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_npu-setup");
const BASE: &str = "fedora43-619-dkms-healthy";
const RUNNING: &str = "6.19.10-200.fc43.x86_64";

/// How far a host is grown; (2, 2, 0) is the fixture as it is.
#[derive(Clone, Copy, Debug)]
struct Scale {
    /// PCI functions in all (the fixture has 2).
    pci: usize,
    /// Installed kernels in all (the fixture has 2).
    kernels: usize,
    /// Kernel-log lines added before the fixture's own.
    log: usize,
}

const ONE: Scale = Scale { pci: 2, kernels: 2, log: 0 };
const BIG: Scale = Scale { pci: 500, kernels: 20, log: 200_000 };

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// The healthy fixture copied and grown to `s`.
fn build(s: Scale) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("host");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hosts").join(BASE);
    assert!(Command::new("cp").arg("-a").arg(&src).arg(&root).status().unwrap().success());
    // PCI functions as on an AMD laptop: most are AMD's own (root complex, bridges, USB, audio),
    // the rest other vendors' (Wi-Fi, NVMe).
    for i in 0..s.pci.saturating_sub(2) {
        let bdf = format!("0000:{:02x}:{:02x}.{}", i / 32, i % 32 / 8 * 2, i % 8);
        let (vendor, class) = match i % 10 {
            0..=5 => ("0x1022", "0x060400"),
            6..=8 => ("0x8086", "0x028000"),
            _ => ("0x144d", "0x010802"),
        };
        let d = format!("sys/bus/pci/devices/{bdf}");
        write(&root, &format!("{d}/vendor"), &format!("{vendor}\n"));
        write(&root, &format!("{d}/device"), &format!("0x{:04x}\n", 0x1400 + i % 64));
        write(&root, &format!("{d}/class"), &format!("{class}\n"));
        write(&root, &format!("{d}/revision"), "0x00\n");
        write(&root, &format!("{d}/enable"), "1\n");
    }
    // Installed kernels: module directories and boot entries like the running one's.
    let entry = std::fs::read_to_string(
        root.join(format!("boot/loader/entries/200eb11b39b7df6bcbbdd3b41e27fd0b-{RUNNING}.conf")),
    )
    .unwrap();
    let dep = std::fs::read_to_string(root.join(format!("lib/modules/{RUNNING}/modules.dep"))).unwrap();
    for i in 0..s.kernels.saturating_sub(2) {
        let k = format!("6.17.{i}-100.fc43.x86_64");
        write(&root, &format!("lib/modules/{k}/vmlinuz"), "");
        write(&root, &format!("lib/modules/{k}/modules.dep"), &dep);
        std::fs::create_dir_all(root.join(format!("lib/modules/{k}/kernel/drivers"))).unwrap();
        write(&root, &format!("boot/vmlinuz-{k}"), "");
        write(
            &root,
            &format!("boot/loader/entries/200eb11b39b7df6bcbbdd3b41e27fd0b-{k}.conf"),
            &entry.replace(RUNNING, &k),
        );
    }
    // The kernel log: `log` lines of a busy boot (1 in 100 an IOMMU group line the probe
    // keeps), then the fixture's own, served by a journalctl that cats a file.
    let shim = std::fs::read_to_string(root.join("usr/bin/journalctl")).unwrap();
    let own = shim.split("cat <<'__OUT__'\n").nth(1).unwrap().split("__OUT__").next().unwrap();
    let mut log = String::with_capacity(s.log * 80 + own.len());
    for i in 0..s.log {
        match i % 100 {
            0 => writeln!(log, "pci 0000:{:02x}:00.0: Adding to iommu group {}", i % 256, i % 64),
            1..=30 => writeln!(
                log,
                "audit: type=1400 audit({}.{:03}:{}): apparmor=\"STATUS\" operation=\"profile_load\"",
                1_777_000_000 + i,
                i % 1000,
                i
            ),
            31..=60 => writeln!(log, "usb 3-{}: new high-speed USB device number {} using xhci_hcd", i % 8, i % 128),
            61..=80 => writeln!(
                log,
                "EXT4-fs (nvme0n1p{}): mounted filesystem with ordered data mode. Quota mode: none.",
                i % 4
            ),
            _ => writeln!(log, "wlp1s0: RX AssocResp from 3c:7c:3f:1a:2b:4d (capab=0x1011 status=0 aid={})", i % 2000),
        }
        .unwrap();
    }
    log.push_str(own);
    write(&root, "var/bench/kernel.log", &log);
    write(
        &root,
        "usr/bin/journalctl",
        "#!/bin/sh\ncase \"$*\" in\n  *\"-k -b 0 -o cat --no-pager\") exec cat \"$NPU_SETUP_ROOT/var/bench/kernel.log\" ;;\nesac\nexit 127\n",
    );
    (tmp, root)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// CPU time (user + system) of this process alone, not of the shims it runs.
fn self_cpu() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    let u = getrusage(UsageWho::RUSAGE_SELF).unwrap();
    let tv = |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
    tv(u.user_time()) + tv(u.system_time())
}

/// doctor's own CPU time in process (recipes, probes, checks, JSON), median of `runs`.
fn self_time(root: &Path, runs: usize) -> Duration {
    use npu_setup::checks::{CheckOptions, run_checks};
    use npu_setup::host::{ProbeOptions, probe_all};
    use npu_setup::recipes::Recipes;
    use npu_setup::root::Root;
    let one = || {
        let c0 = self_cpu();
        let recipes = Recipes::embedded().unwrap();
        let runner = npu_setup::runner::Runner::new(Root::open(root).unwrap(), Duration::from_secs(30));
        let facts = probe_all(&runner, &recipes, &ProbeOptions::default());
        let results = run_checks(&facts, &recipes, &CheckOptions::default(), &[], &[]);
        let report = npu_setup::checks::report(&facts, &recipes, results);
        assert!(serde_json::to_string(&report).unwrap().len() > 1000);
        self_cpu() - c0
    };
    one();
    median((0..runs).map(|_| one()).collect())
}

/// The whole CLI run: wall time, median of `runs`.
fn whole(root: &Path, runs: usize) -> Duration {
    let one = || {
        let t = Instant::now();
        let o = Command::new(BIN).arg("--root").arg(root).args(["doctor", "--format", "json"]).output().unwrap();
        assert!(o.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&o.stderr));
        t.elapsed()
    };
    one();
    median((0..runs).map(|_| one()).collect())
}

/// The shell script on the same tree: wall time, median of `runs`.
fn script(root: &Path, runs: usize) -> Duration {
    let sh = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/doctor-checks.sh");
    let one = || {
        let t = Instant::now();
        let o = Command::new("sh").arg(&sh).arg(root).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        t.elapsed()
    };
    one();
    median((0..runs).map(|_| one()).collect())
}

/// Peak resident memory (KiB) of one whole CLI run: measured by a child of this bench
/// (`--rss` mode), whose only waited-for child is that run.
fn peak_rss(root: &Path) -> u64 {
    let me = std::env::current_exe().unwrap();
    let o = Command::new(me).arg("--rss").arg(root).output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
}

fn rss_child(root: &str) {
    use nix::sys::resource::{UsageWho, getrusage};
    let st = Command::new(BIN)
        .args(["--root", root, "doctor", "--format", "json"])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.code().is_some_and(|c| c <= 1));
    // The largest of the children waited for: npu-setup (its shims are its own children,
    // and far smaller).
    println!("{}", getrusage(UsageWho::RUSAGE_CHILDREN).unwrap().max_rss());
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--rss") {
        return rss_child(&args[i + 1]);
    }
    let quick = std::env::var_os("NPU_SETUP_BENCH_QUICK").is_some();
    let runs = if quick { 3 } else { 9 };
    let mut ok = true;

    let (_a, one) = build(ONE);
    let (_b, big) = build(BIG);
    let (cpu1, cpu_big) = (self_time(&one, runs), self_time(&big, runs));
    println!("doctor self-time (CPU, in process), healthy fixture 1x: {:.1} ms", ms(cpu1));
    println!(
        "doctor self-time (CPU, in process), {} PCI functions / {} kernels / {} log lines: {:.1} ms (target <= 100 ms)",
        BIG.pci,
        BIG.kernels,
        BIG.log,
        ms(cpu_big)
    );
    ok &= cpu_big <= Duration::from_millis(100);

    // Each dimension alone.
    let series: [(&str, Vec<Scale>); 3] = [
        ("PCI functions", [2, 100, 250, 500].iter().map(|&n| Scale { pci: n, ..ONE }).collect()),
        ("kernels", [2, 5, 10, 20].iter().map(|&n| Scale { kernels: n, ..ONE }).collect()),
        ("log lines", [0, 50_000, 100_000, 200_000].iter().map(|&n| Scale { log: n, ..ONE }).collect()),
    ];
    for (what, scales) in series {
        let mut row = Vec::new();
        for s in scales {
            let n = match what {
                "PCI functions" => s.pci,
                "kernels" => s.kernels,
                _ => s.log,
            };
            let (_t, root) = build(s);
            row.push(format!("{n}: {:.1} ms", ms(self_time(&root, runs))));
        }
        println!("growth in {what} (self-time CPU): {}", row.join(", "));
    }

    // Peak memory of the whole run as the log grows.
    let mut row = Vec::new();
    for n in [0, 50_000, 200_000] {
        let (_t, root) = build(Scale { log: n, ..ONE });
        row.push(format!("{n} lines: {:.1} MiB", peak_rss(&root) as f64 / 1024.0));
    }
    println!("peak RSS of the whole run by kernel-log size: {}", row.join(", "));

    // The whole run against the shell script, on the healthy fixture and at scale.
    for (name, root) in [("1x", &one), ("scale", &big)] {
        let (w, s) = (whole(root, runs), script(root, runs));
        println!(
            "whole run vs shell script ({name}): npu-setup {:.1} ms, script {:.1} ms (ratio {:.2})",
            ms(w),
            ms(s),
            w.as_secs_f64() / s.as_secs_f64()
        );
    }

    if !ok {
        eprintln!("a benchmark target was missed");
        std::process::exit(1);
    }
}
