//! Every `sudo npu-setup install --only STEP` doctor prints does what it says: the steps are
//! read from the source (`install_cmd("…")` in the checks, `step:` in the recipes), each is
//! found as a remedy on a fixture (or a fixture broken for it), and `install --only STEP
//! --dry-run` there plans real work in that step — with its prerequisites (said on stderr),
//! never blocked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::{copy_fixture, doctor_json, fixtures, write_shim};

/// Step ids the checks and recipes can name as a remedy.
fn remedy_steps() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = BTreeSet::new();
    let call = regex::Regex::new(r#"install_cmd\("([a-z-]+)"\)"#).unwrap();
    for e in std::fs::read_dir(dir.join("src/checks")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "rs") {
            let text = std::fs::read_to_string(&p).unwrap();
            out.extend(call.captures_iter(&text).map(|c| c[1].to_string()));
        }
    }
    let field = regex::Regex::new(r"(?m)^\s*step:\s*([a-z-]+)\s*$").unwrap();
    for e in std::fs::read_dir(dir.join("recipes")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        out.extend(field.captures_iter(&text).map(|c| c[1].to_string()));
    }
    out
}

/// The `install --only` steps a doctor report prints.
fn printed(report: &serde_json::Value) -> BTreeSet<String> {
    let re = regex::Regex::new(r"npu-setup install --only ([a-z-]+)").unwrap();
    let mut out = BTreeSet::new();
    for c in report["checks"].as_array().unwrap() {
        for cmd in c["remedy"]["commands"].as_array().into_iter().flatten() {
            out.extend(re.captures_iter(cmd.as_str().unwrap_or("")).map(|m| m[1].to_string()));
        }
    }
    out
}

/// Fixtures broken for the remedies no stock fixture prints.
fn broken_for(step: &str) -> Option<(tempfile::TempDir, PathBuf)> {
    match step {
        // XRT installed but off the loader path.
        "loader" => {
            let (tmp, root) = copy_fixture("fedora44-71-intree-healthy");
            std::fs::remove_dir_all(root.join("etc/ld.so.conf.d")).unwrap();
            Some((tmp, root))
        }
        // The service hides ~/.config/flm (ProtectHome) and sets no FLM_MODEL_PATH; flm
        // lists no installed model.
        "models" => {
            let (tmp, root) = copy_fixture("fedora44-71-intree-healthy");
            let dir = root.join("etc/systemd/system/lemond.service.d");
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                let t = std::fs::read_to_string(&p).unwrap();
                let t: String = t.lines().filter(|l| !l.contains("FLM_MODEL_PATH")).map(|l| format!("{l}\n")).collect();
                std::fs::write(&p, t).unwrap();
            }
            let sc = root.join("usr/bin/systemctl");
            let t = std::fs::read_to_string(&sc).unwrap();
            assert!(t.contains("Environment=FLM_MODEL_PATH=/var/lib/flm\n"), "fixture changed");
            std::fs::write(&sc, t.replace("Environment=FLM_MODEL_PATH=/var/lib/flm\n", "")).unwrap();
            flm_lists_no_models(&root);
            Some((tmp, root))
        }
        _ => None,
    }
}

/// The fixture's flm (a replay of captured output) answers the installed-model listing with
/// none: the captures hold no such listing, and without it the models step cannot judge.
fn flm_lists_no_models(root: &Path) {
    for rel in ["usr/bin/flm", "opt/fastflowlm/bin/flm"] {
        let replay = format!("{rel}.replay");
        if !root.join(rel).exists() || root.join(&replay).exists() {
            continue;
        }
        std::fs::rename(root.join(rel), root.join(&replay)).unwrap();
        write_shim(
            root,
            rel,
            "case \"$*\" in *\"list --filter installed --quiet --json\") echo '{\"models\":[]}';;\n\
             *) exec \"$(dirname \"$0\")/flm.replay\" \"$@\";; esac",
        );
    }
}

#[test]
fn every_install_only_remedy_plans_real_work() {
    let steps = remedy_steps();
    for must in ["kargs", "driver", "xrt", "flm", "loader", "limits", "access", "lemonade"] {
        assert!(steps.contains(must), "{must} not found among {steps:?}: the grep is stale");
    }
    // Where each step is printed: every stock fixture, then the broken ones.
    let mut cases: BTreeMap<String, Vec<(String, tempfile::TempDir, PathBuf)>> = BTreeMap::new();
    for name in fixtures() {
        let (tmp, root) = copy_fixture(&name);
        let (_, report) = doctor_json(&root, &[]);
        for s in printed(&report) {
            let (t, r) = copy_fixture(&name);
            cases.entry(s).or_default().push((name.clone(), t, r));
        }
        drop(tmp);
    }
    for s in &steps {
        if let Some((t, r)) = broken_for(s) {
            let (_, report) = doctor_json(&r, &[]);
            assert!(printed(&report).contains(s), "the fixture broken for {s} does not print it");
            cases.entry(s.clone()).or_default().push((format!("broken for {s}"), t, r));
        }
    }
    let mut failures = Vec::new();
    for s in &steps {
        let Some(list) = cases.get(s) else {
            failures.push(format!("{s}: no fixture prints `install --only {s}`; add one to broken_for()"));
            continue;
        };
        for (name, _tmp, root) in list {
            if s == "models" {
                flm_lists_no_models(root);
            }
            let out = crate::bin()
                .arg("--root")
                .arg(root)
                .args(["install", "--dry-run", "--format", "json", "--user", "alice", "--only", s])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let said = String::from_utf8_lossy(&out.stderr);
            let Ok(plan) = serde_json::from_str::<serde_json::Value>(&text) else {
                failures.push(format!("{s} on {name}: not JSON: {text}"));
                continue;
            };
            let steps = plan["plan"].as_array().unwrap();
            // X and what it needs, in install order, and the extra ones are said.
            let ids: Vec<&str> = steps.iter().map(|p| p["id"].as_str().unwrap()).collect();
            let (want, added) = npu_setup::steps::with_prerequisites(std::slice::from_ref(s));
            if ids != want {
                failures.push(format!("{s} on {name}: planned {ids:?}, wanted {want:?}"));
                continue;
            }
            if plan["prerequisites"] != serde_json::json!(added) {
                failures
                    .push(format!("{s} on {name}: the prerequisites are not said: {} ({said})", plan["prerequisites"]));
            }
            if let Some(b) = steps.iter().find(|p| !p["plan"]["blocked"].is_null()) {
                failures.push(format!("{s} on {name}: [{}] BLOCKED: {}", b["id"], b["plan"]["blocked"]));
                continue;
            }
            let own = steps.iter().find(|p| p["id"] == s.as_str()).unwrap();
            let n = own["plan"]["actions"].as_array().map(Vec::len).unwrap_or(0);
            // "Not available: why" is said, not silence (a component with no route on that
            // distro yet, e.g. Lemonade on Arch until the package routes land).
            if n == 0 && own["plan"]["unavailable"].is_string() {
                eprintln!("{s} on {name}: not available: {}", own["plan"]["unavailable"]);
            } else if n == 0 {
                failures.push(format!("{s} on {name}: does nothing ({})", own["plan"]["notes"]));
            }
        }
    }
    assert!(failures.is_empty(), "install --only remedies that do not do what they say:\n{}", failures.join("\n"));
}
