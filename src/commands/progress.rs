//! install's progress on stderr. On a terminal: one indicatif line under the printed actions
//! with the step (`[3/14 driver]`), its elapsed time and the latest output line of the command
//! running (a build stays visibly alive), or a download's bytes, size and rate. Without one
//! (CI logs, `ssh host sudo npu-setup install --yes 2>log`): plain lines, each with a UTC
//! timestamp; a long command or download adds a line at most every [`HEARTBEAT`].

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::report::ascii::localize;
use crate::steps::action::Event;

/// How often a plain (non-terminal) display says a long action is still running.
pub const HEARTBEAT: Duration = Duration::from_secs(60);

/// The step and action under way.
#[derive(Default)]
struct Current {
    /// `[3/14 driver]`.
    label: String,
    step_started: Option<Instant>,
    action_started: Option<Instant>,
    /// Bytes of the download under way (done, total), when it is one.
    bytes: Option<(u64, Option<u64>)>,
    /// Last output line of the command under way.
    last_line: String,
    /// When the plain display last printed.
    printed: Option<Instant>,
}

/// install's progress display.
pub struct Progress {
    bar: Option<ProgressBar>,
    /// Plain lines go here (stderr), when there is no bar.
    plain: Option<Mutex<Box<dyn Write + Send>>>,
    unicode: bool,
    current: Mutex<Current>,
}

impl Progress {
    /// The display for this process: a bar on a terminal, plain lines otherwise, nothing
    /// with `-q`.
    pub fn new(quiet: bool, color: bool, unicode: bool) -> Self {
        use std::io::IsTerminal;
        if quiet {
            return Progress { bar: None, plain: None, unicode, current: Mutex::default() };
        }
        if std::io::stderr().is_terminal() {
            let b = ProgressBar::new_spinner();
            b.set_style(spinner_style(color, unicode));
            b.enable_steady_tick(Duration::from_millis(120));
            return Progress { bar: Some(b), plain: None, unicode, current: Mutex::default() };
        }
        Progress::plain(Box::new(std::io::stderr()), unicode)
    }

    /// Plain timestamped lines into `w` (stderr without a terminal; a buffer in tests).
    pub fn plain(w: Box<dyn Write + Send>, unicode: bool) -> Self {
        Progress { bar: None, plain: Some(Mutex::new(w)), unicode, current: Mutex::default() }
    }

    fn cur(&self) -> std::sync::MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A line above the bar, or a timestamped plain line.
    fn say(&self, text: &str) {
        let text = localize(text, self.unicode);
        if let Some(b) = &self.bar {
            b.println(text.as_ref());
        } else if let Some(w) = &self.plain {
            let mut w = w.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(w, "{} {text}", clock(std::time::SystemTime::now()));
            let _ = w.flush();
        }
        self.cur().printed = Some(Instant::now());
    }

    /// Step `n` of `m` starts.
    pub fn step(&self, n: usize, m: usize, id: &str) {
        let label = format!("[{n}/{m} {id}]");
        {
            let mut c = self.cur();
            c.label = label.clone();
            c.step_started = Some(Instant::now());
        }
        if let Some(b) = &self.bar {
            b.set_prefix(label);
            b.reset_elapsed();
            b.set_message("planning");
        }
    }

    /// An action of the current step starts (its first line as the plan printed it).
    pub fn action(&self, text: &str) {
        let label = {
            let mut c = self.cur();
            c.action_started = Some(Instant::now());
            c.bytes = None;
            c.last_line.clear();
            c.label.clone()
        };
        self.say(&format!("{label} {text}"));
        if let Some(b) = &self.bar {
            b.set_message(localize(text, self.unicode).into_owned());
        }
    }

    /// What the running action reports: an output line, or bytes.
    pub fn event(&self, e: Event) {
        let heartbeat = {
            let mut c = self.cur();
            match e {
                Event::Line(l) => c.last_line = l.trim().chars().take(200).collect(),
                Event::Bytes { done, total } => c.bytes = Some((done, total)),
            }
            let due = c.printed.is_none_or(|p| p.elapsed() >= HEARTBEAT);
            due.then(|| {
                let elapsed = c.action_started.map(|s| s.elapsed()).unwrap_or_default();
                let what = match c.bytes {
                    Some((done, total)) => bytes_so_far(done, total, elapsed),
                    None => c.last_line.clone(),
                };
                format!("{} still running ({}): {what}", c.label, duration(elapsed))
            })
        };
        if let Some(b) = &self.bar {
            match e {
                Event::Line(l) => b.set_message(localize(l.trim(), self.unicode).chars().take(100).collect::<String>()),
                Event::Bytes { done, total } => {
                    let elapsed = self.cur().action_started.map(|s| s.elapsed()).unwrap_or_default();
                    b.set_message(bytes_so_far(done, total, elapsed));
                }
            }
        } else if let Some(h) = heartbeat {
            self.say(&h);
        }
    }

    /// The current action finished: a download says its size and rate, a long command its
    /// time.
    pub fn action_done(&self) {
        let (label, bytes, elapsed) = {
            let c = self.cur();
            (c.label.clone(), c.bytes, c.action_started.map(|s| s.elapsed()).unwrap_or_default())
        };
        if let Some((done, _)) = bytes {
            self.say(&format!("{label} {} in {} ({})", size(done), duration(elapsed), rate(done, elapsed)));
        } else if elapsed >= Duration::from_secs(2) {
            self.say(&format!("{label} done in {}", duration(elapsed)));
        }
    }

    /// The current step finished: how, and how long it took.
    pub fn step_done(&self, outcome: &str) {
        let (label, elapsed) = {
            let c = self.cur();
            (c.label.clone(), c.step_started.map(|s| s.elapsed()).unwrap_or_default())
        };
        self.say(&format!("{label} {outcome} ({})", duration(elapsed)));
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

fn spinner_style(color: bool, unicode: bool) -> ProgressStyle {
    let template = if color {
        "{spinner:.cyan} {prefix:.bold} {elapsed:>4} {wide_msg}"
    } else {
        "{spinner} {prefix} {elapsed:>4} {wide_msg}"
    };
    let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner());
    if unicode { style } else { style.tick_chars("|/-\\ ") }
}

/// `HH:MM:SSZ` (UTC) of a time.
fn clock(t: std::time::SystemTime) -> String {
    let s = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) % 86_400;
    format!("{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

/// `0.4s`, `12s`, `3m 05s`, `1h 02m`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..10 => format!("{:.1}s", d.as_secs_f64()),
        10..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s / 60 % 60),
    }
}

/// `512 B`, `1.5 KiB`, `12.3 MiB`, `1.20 GiB`.
pub fn size(n: u64) -> String {
    const K: f64 = 1024.0;
    let f = n as f64;
    if f < K {
        format!("{n} B")
    } else if f < K * K {
        format!("{:.1} KiB", f / K)
    } else if f < K * K * K {
        format!("{:.1} MiB", f / K / K)
    } else {
        format!("{:.2} GiB", f / K / K / K)
    }
}

/// Bytes per second over `d`.
fn rate(n: u64, d: Duration) -> String {
    let secs = d.as_secs_f64().max(0.001);
    format!("{}/s", size((n as f64 / secs) as u64))
}

/// `12.0 MiB of 40.0 MiB (30%), 3.1 MiB/s` (or without the size when it is unknown).
fn bytes_so_far(done: u64, total: Option<u64>, elapsed: Duration) -> String {
    match total {
        Some(t) if t > 0 => {
            format!("{} of {} ({}%), {}", size(done), size(t), done.saturating_mul(100) / t, rate(done, elapsed))
        }
        _ => format!("{}, {}", size(done), rate(done, elapsed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A writer the test reads back.
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Without a terminal: timestamped lines with step n/m, a download's size and rate, and
    /// the step's time; ASCII outside UTF-8 locales.
    #[test]
    fn plain_lines_carry_a_timestamp_the_step_and_download_sizes() {
        let buf = Buf::default();
        let p = Progress::plain(Box::new(buf.clone()), false);
        p.step(2, 14, "lemonade");
        p.action("download https://example.invalid/lemonade.rpm — the pinned package");
        p.event(Event::Bytes { done: 0, total: Some(3 << 20) });
        p.event(Event::Bytes { done: 3 << 20, total: Some(3 << 20) });
        p.action_done();
        p.step_done("1 change(s) applied");
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let ts = regex::Regex::new(r"^\d\d:\d\d:\d\dZ \[2/14 lemonade\] ").unwrap();
        assert!(lines.iter().all(|l| ts.is_match(l)), "{text}");
        assert!(lines[0].ends_with("download https://example.invalid/lemonade.rpm - the pinned package"), "{text}");
        assert!(text.contains("] 3.0 MiB in ") && text.contains("/s)"), "{text}");
        assert!(lines.last().unwrap().contains("1 change(s) applied (") && text.is_ascii(), "{text}");
    }

    #[test]
    fn sizes_durations_and_rates_read_as_people_write_them() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(12 << 20), "12.0 MiB");
        assert_eq!(duration(Duration::from_millis(400)), "0.4s");
        assert_eq!(duration(Duration::from_secs(185)), "3m 05s");
        assert_eq!(duration(Duration::from_secs(3720)), "1h 02m");
        assert_eq!(bytes_so_far(1 << 20, Some(4 << 20), Duration::from_secs(1)), "1.0 MiB of 4.0 MiB (25%), 1.0 MiB/s");
        assert_eq!(clock(std::time::UNIX_EPOCH + Duration::from_secs(1_796_575_955)), "16:52:35Z");
    }
}
