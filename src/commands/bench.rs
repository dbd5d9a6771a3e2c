//! `npu-setup bench`: TTFT, prefill and decode speed on the NPU (through Lemonade) and the
//! GPU endpoint, over `--runs`, sequentially and optionally both at once; baselines to catch
//! regressions after a kernel or driver update. Keeps whatever results it has when an
//! endpoint fails; never hangs (every request has connect, first-byte and total timeouts).

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cli::{BenchArgs, Cli, EndpointArgs};
use crate::host::smoke::gpu_base;
use crate::host::{ProbeOptions, probe_all};
use crate::lemonade;
use crate::model::bench::{BenchReport, Concurrent, SideResult, Stat};
use crate::net::http::Timeouts;
use crate::net::inference::{Completion, Endpoint, chat, first_model};
use crate::report::exit;
use crate::root::Root;

/// Default prompt: long enough to measure prefill, neutral enough for any model.
pub const DEFAULT_PROMPT: &str = "Explain in a short paragraph how a neural processing unit differs from a GPU when running a small language model, and when each is the better choice.";

fn run_side(side: &str, ep: &Endpoint, prompt: &str, max_tokens: u32, runs: usize, t: &Timeouts) -> SideResult {
    let started = Instant::now();
    let mut r = SideResult { side: side.into(), base: ep.base.clone(), model: ep.model.clone(), ..Default::default() };
    for _ in 0..runs {
        match chat(ep, prompt, max_tokens, true, t) {
            Ok(c) => r.runs.push(c),
            Err(e) => {
                r.errors.push(e.to_string());
                // An endpoint that is down stays down: keep what we have, don't wait again.
                if matches!(
                    e,
                    crate::net::inference::InferError::Connect { .. }
                        | crate::net::inference::InferError::ModelNotFound { .. }
                ) {
                    break;
                }
            }
        }
    }
    r.wall_ms = started.elapsed().as_secs_f64() * 1e3;
    let col = |f: &dyn Fn(&Completion) -> Option<f64>| Stat::of(&r.runs.iter().filter_map(f).collect::<Vec<_>>());
    r.ttft_ms = col(&|c| Some(c.ttft_ms));
    r.prefill_tps = col(&|c| c.prefill_tps);
    r.decode_tps = col(&|c| c.decode_tps);
    r.server_decode_tps = col(&|c| c.server.as_ref().and_then(|s| s.predicted_per_second));
    r.completion_tokens =
        Stat::of(&r.runs.iter().map(|c| c.completion_tokens as f64).collect::<Vec<_>>()).map(|s| s.mean);
    r
}

/// Resolves the NPU and GPU endpoints from flags and the host's Lemonade facts.
pub fn endpoints(cli: &Cli, e: &EndpointArgs, only: Option<&str>) -> Result<Vec<(String, Endpoint)>> {
    let (runner, recipes) = super::setup(cli)?;
    let facts = probe_all(
        &runner,
        &recipes,
        &ProbeOptions { lemonade_url: e.lemonade_url.clone(), gpu_url: e.gpu_url.clone(), ..Default::default() },
    );
    let defaults = crate::host::smoke::HostDefaults::for_host(runner.root(), &recipes);
    let mut out = Vec::new();
    if only != Some("gpu") {
        let url =
            facts.lemonade.ok().and_then(|l| l.base_url.clone()).context("no Lemonade URL (pass --lemonade-url)")?;
        let model = e.npu_model.clone().or(defaults.npu).context("no NPU chat model configured (pass --npu-model)")?;
        let api_key = lemonade::api_key(facts.lemonade.ok().and_then(|l| l.api_key.as_ref()));
        out.push(("npu".to_string(), Endpoint { base: lemonade::openai_base(&url), model, api_key }));
    }
    if only != Some("npu") {
        let url =
            facts.gpu.ok().map(|g| g.url.clone()).unwrap_or_else(|| crate::host::services::DEFAULT_GPU_URL.into());
        let base = gpu_base(&url);
        let model = match e.gpu_model.clone().or(defaults.gpu_model) {
            Some(m) => m,
            None => first_model(&base).unwrap_or_default(),
        };
        out.push(("gpu".to_string(), Endpoint { base, model, api_key: None }));
    }
    Ok(out)
}

fn baseline_path(name: &str) -> Result<String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) || name.starts_with('.')
    {
        bail!("baseline name {name:?}: use letters, digits, '-', '_' or '.'");
    }
    Ok(format!("{}/bench/{name}.json", crate::state::STATE_DIR))
}

/// Runs the bench; returns the exit code.
pub fn run(cli: &Cli, a: &BenchArgs) -> Result<i32> {
    if a.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let root = Root::open(&cli.root)?;
    let prompt = a.prompt.clone().unwrap_or_else(|| DEFAULT_PROMPT.to_string());
    let eps = endpoints(cli, &a.endpoints, a.only.as_deref())?;
    let t = Timeouts::request(
        Duration::from_secs(2),
        Duration::from_secs_f64(cli.timeout.max(30.0)),
        Duration::from_secs(600),
    );
    // Load the NPU model once, before timing anything.
    for (side, ep) in &eps {
        if side == "npu" {
            let url = ep.base.trim_end_matches(lemonade::API);
            if let Err(e) = lemonade::ensure_loaded(url, &ep.model, ep.api_key.as_deref()) {
                eprintln!("warning: loading {} on Lemonade failed: {e}", ep.model);
            }
        }
    }
    let mut report = BenchReport {
        api_version: "npu-setup/v1".into(),
        kind: "BenchReport".into(),
        prompt: prompt.clone(),
        max_tokens: a.max_tokens,
        ..Default::default()
    };
    for (side, ep) in &eps {
        eprintln!("bench: {side} {} ({}), {} runs", ep.model, ep.base, a.runs);
        report.sides.push(run_side(side, ep, &prompt, a.max_tokens, a.runs, &t));
    }
    if a.concurrent && eps.len() > 1 {
        eprintln!("bench: NPU and GPU at once");
        let started = Instant::now();
        let sides: Vec<SideResult> = std::thread::scope(|s| {
            let hs: Vec<_> = eps
                .iter()
                .map(|(side, ep)| s.spawn(|| run_side(side, ep, &prompt, a.max_tokens, a.runs, &t)))
                .collect();
            hs.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        let wall_ms = started.elapsed().as_secs_f64() * 1e3;
        let sequential_wall_ms: f64 = report.sides.iter().map(|s| s.wall_ms).sum();
        let decode_delta_tps = sides
            .iter()
            .filter_map(|c| {
                let seq = report.sides.iter().find(|s| s.side == c.side)?.decode_tps.as_ref()?.mean;
                Some((c.side.clone(), c.decode_tps.as_ref()?.mean - seq))
            })
            .collect();
        report.concurrent = Some(Concurrent {
            sides,
            wall_ms,
            sequential_wall_ms,
            speedup: sequential_wall_ms / wall_ms.max(1.0),
            decode_delta_tps,
        });
    }
    if let Some(name) = &a.baseline {
        let rel = baseline_path(name)?;
        let text =
            root.read_optional(&rel)?.with_context(|| format!("no baseline {name} ({})", Root::display(&rel)))?;
        let base: BenchReport =
            serde_json::from_str(&text).with_context(|| format!("reading baseline {}", Root::display(&rel)))?;
        for now in &report.sides {
            let (Some(was), Some(is)) = (
                base.sides.iter().find(|b| b.side == now.side).and_then(|b| b.decode_tps.as_ref()).map(|s| s.mean),
                now.decode_tps.as_ref().map(|s| s.mean),
            ) else {
                continue;
            };
            let drop = (was - is) / was * 100.0;
            if drop > a.tolerance {
                report.regressions.push(format!(
                    "{}: decode {is:.1} tokens/s vs {was:.1} in baseline {name} (-{drop:.0}%, tolerance {}%)",
                    now.side, a.tolerance
                ));
            }
        }
    }
    // Written only with --save, and only a result worth comparing with: every side ran.
    let failed: Vec<&str> = report.sides.iter().filter(|s| s.runs.is_empty()).map(|s| s.side.as_str()).collect();
    match &a.save {
        Some(_) if !failed.is_empty() => {
            eprintln!("bench: not saved: no run succeeded on {} (the kept result stays as it was)", failed.join(", "))
        }
        Some(name) => {
            let data = serde_json::to_vec_pretty(&report)?;
            let perms = crate::root::Perms::Set { mode: 0o644, owner: None };
            if name != "last" {
                let rel = baseline_path(name)?;
                root.write(&rel, &data, perms).with_context(|| format!("saving baseline {}", Root::display(&rel)))?;
                eprintln!("bench: saved baseline {name} ({})", Root::display(&rel));
            }
            // After the baseline comparison, so `--baseline last` compares with the run before.
            let last = crate::state::bench_last_path();
            root.write(&last, &data, perms).with_context(|| format!("saving {}", Root::display(&last)))?;
            if !cli.quiet {
                eprintln!("bench: saved {} (doctor's metrics, --baseline last)", Root::display(&last));
            }
        }
        None => {}
    }
    let mut out = std::io::stdout().lock();
    let metrics = |w: &mut dyn Write| -> Result<()> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Ok(crate::report::prometheus::render_bench(w, &report, now.as_secs_f64())?)
    };
    crate::report::emit(
        &mut out,
        cli.format,
        "the bench report",
        &report,
        |w| Ok(render(w, &report)?),
        Some(&metrics),
    )?;
    Ok(if !failed.is_empty() || !report.regressions.is_empty() { exit::PROBLEMS } else { exit::OK })
}

fn fmt(s: &Option<Stat>) -> String {
    s.as_ref()
        .map(|s| format!("{:>8.1} {:>8.1} {:>8.1}", s.mean, s.p50, s.p95))
        .unwrap_or_else(|| format!("{:>8} {:>8} {:>8}", "-", "-", "-"))
}

fn render(w: &mut dyn Write, r: &BenchReport) -> std::io::Result<()> {
    let table = |w: &mut dyn Write, sides: &[SideResult]| -> std::io::Result<()> {
        writeln!(
            w,
            "{:<5} {:<24} {:>5} | {:^26} | {:^26} | {:^26} | {:>8}",
            "side", "model", "runs", "TTFT ms (mean p50 p95)", "prefill tok/s", "decode tok/s", "tokens"
        )?;
        for s in sides {
            writeln!(
                w,
                "{:<5} {:<24} {:>5} | {} | {} | {} | {:>8}",
                s.side,
                s.model.chars().take(24).collect::<String>(),
                s.runs.len(),
                fmt(&s.ttft_ms),
                fmt(&s.prefill_tps),
                fmt(&s.decode_tps),
                s.completion_tokens.map(|t| format!("{t:.0}")).unwrap_or_else(|| "-".into())
            )?;
            if let Some(sv) = &s.server_decode_tps {
                let diff = s
                    .decode_tps
                    .as_ref()
                    .map(|c| format!(" (client {:+.1}%)", (c.mean - sv.mean) / sv.mean * 100.0))
                    .unwrap_or_default();
                writeln!(w, "      server-reported decode: {:.1} tok/s{diff}", sv.mean)?;
            }
            for e in &s.errors {
                writeln!(w, "      error: {e}")?;
            }
        }
        Ok(())
    };
    writeln!(w, "sequential ({} tokens per run):", r.max_tokens)?;
    table(w, &r.sides)?;
    if let Some(c) = &r.concurrent {
        writeln!(w, "\nconcurrent (NPU and GPU at once):")?;
        table(w, &c.sides)?;
        for (side, d) in &c.decode_delta_tps {
            writeln!(w, "  {side} decode while the other runs: {d:+.1} tok/s")?;
        }
        writeln!(w, "  wall {:.0} ms vs {:.0} ms sequential: {:.2}x", c.wall_ms, c.sequential_wall_ms, c.speedup)?;
    }
    for reg in &r.regressions {
        writeln!(w, "REGRESSION: {reg}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_use_nearest_rank() {
        let s = Stat::of(&[10.0, 30.0, 20.0, 40.0]).unwrap();
        assert_eq!(s.mean, 25.0);
        assert_eq!(s.p50, 20.0);
        assert_eq!(s.p95, 40.0);
        assert_eq!(Stat::of(&[]), None);
    }

    #[test]
    fn baseline_names_cannot_escape() {
        assert!(baseline_path("../x").is_err());
        assert!(baseline_path("after-kernel-7.1").is_ok());
    }
}
