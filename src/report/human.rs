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

/// Width human text is wrapped at (evidence, fixes); a longer word stays whole.
pub const WIDTH: usize = 100;

/// Wraps `text` into lines: the first starts after `first` columns of the caller's prefix, the
/// rest are indented by `indent`. Words are never cut; blank-separated only.
fn wrap(text: &str, first: usize, indent: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut col = first;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let len = word.chars().count();
        if !line.is_empty() && col + 1 + len > WIDTH {
            lines.push(std::mem::take(&mut line));
            col = indent;
        }
        if !line.is_empty() {
            line.push(' ');
            col += 1;
        }
        line.push_str(word);
        col += len;
    }
    lines.push(line);
    lines
}

/// A scalar as text (`-` for null).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => Some("-".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// `label` then the value as indented key/value lines: scalars after the label (wrapped, never
/// cut; a multi-line string one line each, indented), a short list of scalars as one
/// comma-separated line, longer lists as `- item` lines, maps as `key: value` lines two
/// columns further in. No JSON.
fn value_lines(indent: usize, label: &str, v: &Value, out: &mut Vec<String>) {
    let pad = " ".repeat(indent);
    let head = format!("{pad}{label}");
    let deeper = indent + 2;
    match v {
        Value::String(s) if s.contains('\n') => {
            out.push(head.trim_end().to_string());
            for l in s.lines() {
                wrapped(deeper, "", l, out);
            }
        }
        Value::Array(items) if items.is_empty() => out.push(format!("{head}(none)")),
        Value::Object(map) if map.iter().all(|(_, v)| v.is_null()) => out.push(format!("{head}(none)")),
        Value::Array(items) => {
            let flat: Option<Vec<String>> = items.iter().map(scalar).collect();
            if let Some(flat) = flat.filter(|f| f.iter().all(|s| !s.contains(", ") && !s.contains('\n'))) {
                let joined = flat.join(", ");
                if head.chars().count() + joined.chars().count() <= WIDTH {
                    out.push(format!("{head}{joined}"));
                    return;
                }
            }
            out.push(head.trim_end().to_string());
            for item in items {
                let start = out.len();
                let object = matches!(item, Value::Object(_));
                value_lines(if object { deeper + 2 } else { deeper }, "", item, out);
                if object {
                    // The item's keys start two columns in: the first gets the bullet.
                    if let Some(first) = out.get_mut(start) {
                        first.replace_range(deeper..deeper + 2, "- ");
                    }
                } else if let Some(first) = out.get_mut(start) {
                    first.insert_str(deeper, "- ");
                }
            }
        }
        Value::Object(map) => {
            let deeper = if label.is_empty() { indent } else { deeper };
            if !label.is_empty() {
                out.push(head.trim_end().to_string());
            }
            for (k, v) in map.iter().filter(|(_, v)| !v.is_null()) {
                value_lines(deeper, &format!("{k}: "), v, out);
            }
        }
        v => wrapped(indent, label, &scalar(v).unwrap_or_default(), out),
    }
}

/// `label` and a scalar, wrapped with continuation lines two columns in from the label.
fn wrapped(indent: usize, label: &str, text: &str, out: &mut Vec<String>) {
    let pad = " ".repeat(indent);
    let lines = wrap(text, indent + label.chars().count(), indent + 2);
    for (i, l) in lines.into_iter().enumerate() {
        if i == 0 {
            out.push(format!("{pad}{label}{l}").trim_end().to_string());
        } else {
            out.push(format!("{pad}  {l}"));
        }
    }
}

/// Keys shown by default for non-pass checks (the rest with `-v`).
const MAX_EVIDENCE: usize = 6;

/// A remedy's commands as ways to fix: npu-setup's install steps are one way, the distro's
/// own commands another (`one of:`); a service restart after the steps is needed either way
/// (`then:`). Commands of one kind only are a sequence, in order.
fn fix_lines(commands: &[String]) -> Vec<String> {
    let is_step = |c: &str| c.contains("npu-setup install");
    let last_step = commands.iter().rposition(|c| is_step(c));
    let is_after = |i: usize, c: &str| {
        last_step.is_some_and(|l| i > l) && (c.contains("systemctl restart") || c.contains("systemctl --user restart"))
    };
    let steps: Vec<&str> = commands.iter().filter(|c| is_step(c)).map(String::as_str).collect();
    let manual: Vec<&str> =
        commands.iter().enumerate().filter(|(i, c)| !is_step(c) && !is_after(*i, c)).map(|(_, c)| c.as_str()).collect();
    if steps.is_empty() || manual.is_empty() {
        return commands.iter().map(|c| format!("$ {c}")).collect();
    }
    let mut out = vec!["one of:".to_string()];
    for way in [steps, manual] {
        for (i, c) in way.iter().enumerate() {
            out.push(format!("{} $ {c}", if i == 0 { "-" } else { " " }));
        }
    }
    let then: Vec<&String> = commands.iter().enumerate().filter(|(i, c)| is_after(*i, c)).map(|(_, c)| c).collect();
    if !then.is_empty() {
        out.push("then:".into());
        out.extend(then.iter().map(|c| format!("  $ {c}")));
    }
    out
}

fn write_check(w: &mut dyn Write, c: &CheckResult, o: &HumanOptions, width: usize) -> io::Result<()> {
    let g = glyph(c.status, o);
    let st = style(c.status, o);
    writeln!(w, "  {} {:<width$}  {}", st.apply_to(g), c.id, c.summary)?;
    let detail = !o.brief && (o.verbose || matches!(c.status, Status::Fail | Status::Warn | Status::Error));
    if !detail {
        return Ok(());
    }
    let indent = 4 + g.chars().count();
    let pad = " ".repeat(indent);
    if let Some(cause) = &c.cause {
        writeln!(w, "{pad}follows from: {cause}")?;
    }
    let shown: Vec<(&String, &Value)> = c
        .evidence
        .iter()
        .filter(|(_, v)| !v.is_null() && v != &&Value::Array(vec![]) && v != &&Value::Object(Default::default()))
        .collect();
    let limit = if o.verbose { usize::MAX } else { MAX_EVIDENCE };
    let mut lines = Vec::new();
    for (k, v) in shown.iter().take(limit) {
        value_lines(indent, &format!("{k}: "), v, &mut lines);
    }
    for l in lines {
        writeln!(w, "{l}")?;
    }
    if shown.len() > limit {
        writeln!(w, "{pad}(+{} more with -v or --format json)", shown.len() - limit)?;
    }
    if let Some(r) = &c.remedy
        && c.status != Status::Pass
    {
        let fix = Style::new().force_styling(o.color).bold();
        for (i, l) in wrap(&r.text, indent + 5, indent + 2).into_iter().enumerate() {
            if i == 0 {
                writeln!(w, "{pad}{} {l}", fix.apply_to("fix:"))?;
            } else {
                writeln!(w, "{pad}  {l}")?;
            }
        }
        for l in fix_lines(&r.commands) {
            writeln!(w, "{pad}  {l}")?;
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
