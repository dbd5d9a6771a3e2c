//! Human rendering of the doctor report, `flutter doctor`-style: one line per check with a
//! glyph, grouped by layer, evidence and the exact fix for every non-pass, then a verdict.
//! Writes to any `impl Write` so tests snapshot it; colour via `console`, ASCII fallback.

use std::io::{self, Write};

use console::Style;
use serde_json::Value;

use super::Report;
use crate::model::{CheckResult, Status};

/// Rendering options.
#[derive(Debug, Clone, Copy)]
pub struct HumanOptions {
    /// Use Unicode glyphs (else ASCII).
    pub unicode: bool,
    /// Colour escapes.
    pub color: bool,
    /// `-v`: evidence for every check.
    pub verbose: bool,
    /// `-q`: only problems and the verdict.
    pub quiet: bool,
    /// One line per check, no evidence or fixes (install's closing verdict).
    pub brief: bool,
}

fn glyph(s: Status, o: &HumanOptions) -> &'static str {
    status_glyph(s, o.unicode)
}

/// The glyph of a status: Unicode, or ASCII outside UTF-8 locales (shared with `check`).
pub fn status_glyph(s: Status, unicode: bool) -> &'static str {
    match (s, unicode) {
        (Status::Pass, true) => "✓",
        (Status::Warn, true) => "!",
        (Status::Fail, true) => "✗",
        (Status::Skip, true) => "·",
        (Status::Error, true) => "?",
        (Status::Pass, false) => "[ok]",
        (Status::Warn, false) => "[!!]",
        (Status::Fail, false) => "[XX]",
        (Status::Skip, false) => "[--]",
        (Status::Error, false) => "[??]",
    }
}

fn style(s: Status, o: &HumanOptions) -> Style {
    let st = Style::new().force_styling(o.color);
    if !o.color {
        return st;
    }
    match s {
        Status::Pass => st.green(),
        Status::Warn => st.yellow(),
        Status::Fail => st.red().bold(),
        Status::Skip => st.dim(),
        Status::Error => st.magenta(),
    }
}

/// Renders one evidence value on one line (long values are cut).
fn show_value(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    let one_line = s.replace('\n', " ⏎ ");
    if one_line.chars().count() > 160 {
        format!("{}…", one_line.chars().take(159).collect::<String>())
    } else {
        one_line
    }
}

/// Keys shown by default for non-pass checks (the rest with `-v`).
const MAX_EVIDENCE: usize = 6;

fn write_check(w: &mut dyn Write, c: &CheckResult, o: &HumanOptions, width: usize) -> io::Result<()> {
    let g = glyph(c.status, o);
    let st = style(c.status, o);
    writeln!(w, "  {} {:<width$}  {}", st.apply_to(g), c.id, c.summary)?;
    let detail = !o.brief && (o.verbose || matches!(c.status, Status::Fail | Status::Warn | Status::Error));
    if !detail {
        return Ok(());
    }
    let pad = " ".repeat(4 + g.chars().count());
    if let Some(cause) = &c.cause {
        writeln!(w, "{pad}follows from: {cause}")?;
    }
    let shown: Vec<(&String, &Value)> = c
        .evidence
        .iter()
        .filter(|(_, v)| !v.is_null() && v != &&Value::Array(vec![]) && v != &&Value::Object(Default::default()))
        .collect();
    let limit = if o.verbose { usize::MAX } else { MAX_EVIDENCE };
    for (k, v) in shown.iter().take(limit) {
        writeln!(w, "{pad}{k}: {}", show_value(v))?;
    }
    if shown.len() > limit {
        writeln!(w, "{pad}(+{} more with -v or --format json)", shown.len() - limit)?;
    }
    if let Some(r) = &c.remedy
        && c.status != Status::Pass
    {
        let fix = Style::new().force_styling(o.color).bold();
        writeln!(w, "{pad}{} {}", fix.apply_to("fix:"), r.text)?;
        for cmd in &r.commands {
            writeln!(w, "{pad}  $ {cmd}")?;
        }
        if r.reboot {
            writeln!(w, "{pad}  (reboot required)")?;
        }
        if let Some(d) = &r.docs {
            writeln!(w, "{pad}  see {d}")?;
        }
    }
    Ok(())
}

/// Writes the report.
pub fn render(w: &mut dyn Write, r: &Report, o: &HumanOptions) -> io::Result<()> {
    let h = &r.host;
    let kernel = match (&h.kernel.running, &h.kernel.target) {
        (Some(a), Some(b)) if a != b => format!("kernel {a} (next boot: {b})"),
        (Some(a), _) => format!("kernel {a}"),
        (None, Some(b)) => format!("target kernel {b}"),
        _ => "kernel unknown".into(),
    };
    if !o.quiet {
        writeln!(w, "npu-setup doctor: {}, {kernel}", h.os.clone().unwrap_or_else(|| "unknown OS".into()))?;
        match &h.npu {
            Some(n) => writeln!(
                w,
                "NPU: {} ({}, {}) at {}{}",
                n.product.clone().unwrap_or_else(|| "unknown".into()),
                n.family.clone().unwrap_or_default(),
                n.generation.clone().unwrap_or_default(),
                n.bdf,
                n.firmware.as_ref().map(|f| format!(", firmware {f}")).unwrap_or_default()
            )?,
            None => writeln!(w, "NPU: none found")?,
        }
        if h.root_mode != "live" {
            writeln!(w, "root: {} tree", h.root_mode)?;
        }
        writeln!(w)?;
    }
    let width = r.checks.iter().map(|c| c.id.len()).max().unwrap_or(10);
    let calm = r.diagnosis.state == "no-npu";
    let mut layer = "";
    let mut folded = 0;
    for c in r.checks.iter().filter(|c| !(c.status == Status::Skip && c.summary.starts_with("not selected"))) {
        // With no NPU, fold the NPU-only skips into one calm line.
        if calm && c.status == Status::Skip && c.summary == "no NPU on this machine" && !o.verbose {
            folded += 1;
            continue;
        }
        if o.quiet && matches!(c.status, Status::Pass | Status::Skip) {
            continue;
        }
        if c.layer != layer && !o.quiet {
            writeln!(w, "{}", Style::new().force_styling(o.color).bold().apply_to(&c.layer))?;
            layer = &c.layer;
        }
        write_check(w, c, o, width)?;
    }
    if folded > 0 {
        writeln!(w, "  {} {folded} NPU checks skipped: no NPU on this machine", glyph(Status::Skip, o))?;
    }
    let s = &r.summary;
    if !o.quiet {
        writeln!(w)?;
        writeln!(
            w,
            "{} passed, {} warnings, {} failed, {} skipped, {} errors",
            s.pass, s.warn, s.fail, s.skip, s.error
        )?;
    }
    let verdict_style = match r.diagnosis.state.as_str() {
        "ready" => style(Status::Pass, o),
        "degraded" => style(Status::Warn, o),
        "no-npu" => Style::new().force_styling(o.color),
        _ => style(Status::Fail, o),
    };
    writeln!(w, "{} {}", verdict_style.apply_to(format!("{}:", r.diagnosis.state)), r.diagnosis.message)?;
    Ok(())
}
