//! The README's walkthrough from a broken host to a working one, produced by running it: a copy
//! of the Fedora 44 Strix Halo fixture broken the way install's tests break it (`amd_iommu=off`
//! from GPU tuning, no memlock configuration, XRT off the loader path), then `doctor`, the
//! plan, `install`, a reboot (the running command line loses the argument), `install` again
//! and `doctor --smoke` against real llama-server stand-ins. The README's blocks between
//! `<!-- walkthrough:NAME -->` and `<!-- /walkthrough -->` must be this output (numbers,
//! ports and run ids aside); `UPDATE_README=1 cargo test --test cli walkthrough` rewrites them.

use std::path::Path;

use crate::bin;

/// A command of the walkthrough: how the README shows it, and what ran.
struct Shown {
    name: &'static str,
    command: &'static str,
    code: i32,
    output: String,
}

/// `text` with the lines `keep` refuses left out, each run of them shown as one `…` line at
/// the indentation of its first line (so an excerpt never passes for the whole output).
fn excerpt(text: &str, keep: impl Fn(&str) -> bool) -> String {
    let mut out = Vec::new();
    let mut skipping = false;
    for line in text.lines() {
        if keep(line) {
            out.push(line.to_string());
            skipping = false;
        } else if !skipping {
            let indent = line.len() - line.trim_start().len();
            out.push(format!("{}…", " ".repeat(indent)));
            skipping = true;
        }
    }
    out.join("\n")
}

fn run(root: &Path, args: &[&str]) -> (i32, String, String) {
    let out = bin().arg("--root").arg(root).args(["--color", "never"]).args(args).output().unwrap();
    // The binary's own path (install copies it to /usr/local/bin) depends on where the
    // repository is checked out: shown as a user who built it with cargo sees it.
    let exe = env!("CARGO_BIN_EXE_npu-setup").to_string();
    let canon = std::fs::canonicalize(&exe).map(|p| p.display().to_string()).unwrap_or_else(|_| exe.clone());
    let show = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .replace(&root.display().to_string(), "")
            .replace(&canon, "./target/release/npu-setup")
            .replace(&exe, "./target/release/npu-setup")
    };
    (out.status.code().unwrap_or(-1), show(&out.stdout), show(&out.stderr))
}

/// What `flm list` answers on the walkthrough host: the recipe's models are pulled already
/// (the fixture replays no `flm list`).
fn models_pulled(root: &Path) {
    std::fs::rename(root.join("usr/bin/flm"), root.join("usr/bin/flm.replay")).unwrap();
    crate::write_shim(
        root,
        "usr/bin/flm",
        "case \"$*\" in \"list --filter installed --quiet --json\") \
         echo '{\"models\":[{\"name\":\"qwen3:4b\",\"installed\":true},{\"name\":\"whisper-v3:turbo\",\"installed\":true}]}';; \
         *) exec \"$(dirname \"$0\")/flm.replay\" \"$@\";; esac",
    );
}

fn walkthrough() -> Vec<Shown> {
    let (_tmp, root) = crate::install::broken_fedora("fedora44-71-intree-healthy");
    models_pulled(&root);
    let mut shown = Vec::new();

    let (code, out, _) = run(&root, &["doctor"]);
    let check_line = |l: &str| l.starts_with("  ") && l.chars().nth(2).is_some_and(|c| !c.is_whitespace());
    let keep = |l: &str| {
        !l.starts_with(' ')
            || check_line(l)
            || ["one of:", "- $", "$ ", "(reboot required)"].iter().any(|p| l.trim_start().starts_with(p))
    };
    shown.push(Shown { name: "doctor", command: "npu-setup doctor", code, output: excerpt(&out, keep) });

    let (code, out, _) = run(&root, &["install", "--dry-run", "--user", "alice"]);
    let keep = |l: &str| !l.starts_with(' ') || l.starts_with("    - ") || l.starts_with("    reboot:");
    shown.push(Shown {
        name: "plan",
        command: "npu-setup install --dry-run --user alice",
        code,
        output: excerpt(&out, keep),
    });

    let (code, out, err) = run(&root, &["install", "--yes", "--user", "alice"]);
    assert_eq!(code, 3, "{out}\n{err}");
    let tail = &out[out.find("verify (doctor):").unwrap_or(0)..];
    let progress: Vec<&str> = err.lines().filter(|l| l.contains("change(s) applied")).collect();
    shown.push(Shown {
        name: "install",
        command: "sudo npu-setup install --yes --user alice",
        code,
        output: format!("…the plan, as above…\n{}\n{}", progress.join("\n"), tail.trim_end()),
    });

    // The reboot: the running kernel now has the next boot's arguments.
    let cmdline = root.join("proc/cmdline");
    let text = std::fs::read_to_string(&cmdline).unwrap();
    std::fs::write(&cmdline, text.replace("amd_iommu=off ", "")).unwrap();

    let (code, out, err) = run(&root, &["install", "--yes", "--user", "alice"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let tail = &out[out.find("Everything is in place").unwrap_or(0)..];
    shown.push(Shown {
        name: "again",
        command: "sudo npu-setup install --yes --user alice",
        code,
        output: format!("…every step: nothing to do…\n{}", tail.trim_end()),
    });

    // Smoke against real servers: two llama-server processes (CPU stand-ins for the NPU and
    // the GPU), Lemonade's API in front of the first.
    let (_npu, npu_port) = crate::smoke::llama_server();
    let (_gpu, gpu_port) = crate::smoke::llama_server();
    let (_facade, fport) = crate::smoke::facade(npu_port);
    let lemonade = format!("http://127.0.0.1:{fport}");
    let gpu = format!("http://127.0.0.1:{gpu_port}/health");
    let (code, out, err) = run(
        &root,
        &["doctor", "--smoke", "--npu-model", "qwen3-0.6b-FLM", "--lemonade-url", &lemonade, "--gpu-url", &gpu],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let keep = |l: &str| {
        l.starts_with("smoke") || l.starts_with("  ✓ smoke") || l.contains("passed,") || l.starts_with("ready")
    };
    shown.push(Shown { name: "smoke", command: "npu-setup doctor --smoke", code, output: excerpt(&out, keep) });
    shown
}

/// The README block of one command.
fn block(s: &Shown) -> String {
    let exit = if s.code == 0 { String::new() } else { format!("\n(exit {})", s.code) };
    format!("```\n$ {}\n{}{exit}\n```", s.command, s.output)
}

/// Numbers (times, rates, ports, run ids) vary from run to run: compared as `0`. A duration
/// changes its shape with its size (`0.4s`, `12s`, `3m 05s`: progress::duration), so a slow
/// machine is not a different output: every duration compares as `0s`.
fn numbers_aside(s: &str) -> String {
    let durations = regex::Regex::new(r"\b(?:\d+h \d+m|\d+m \d+s|\d+(?:\.\d+)?s)\b").unwrap();
    let s = durations.replace_all(s, "0s");
    regex::Regex::new(r"\d+").unwrap().replace_all(&s, "0").into_owned()
}

const START: &str = "<!-- walkthrough:";
const END: &str = "<!-- /walkthrough -->";

#[test]
fn the_readme_walkthrough_is_real_output() {
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let mut readme = std::fs::read_to_string(&readme_path).unwrap();
    let update = std::env::var_os("UPDATE_README").is_some();
    for s in walkthrough() {
        let open = format!("{START}{} -->", s.name);
        let at = readme.find(&open).unwrap_or_else(|| panic!("README.md has no {open} marker"));
        let body_start = at + open.len();
        let body_end = body_start + readme[body_start..].find(END).expect("walkthrough block not closed");
        let want = format!("\n{}\n", block(&s));
        if update {
            readme.replace_range(body_start..body_end, &want);
        } else {
            assert_eq!(
                numbers_aside(&readme[body_start..body_end]),
                numbers_aside(&want),
                "README.md's walkthrough block {} is not what the tool prints; rerun with UPDATE_README=1",
                s.name
            );
        }
    }
    if update {
        std::fs::write(&readme_path, readme).unwrap();
    }
}
