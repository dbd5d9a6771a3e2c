//! The kernel-log filter: fed one raw line at a time (from `journalctl`/`dmesg` streamed by
//! the runner, or a log file read in chunks), it keeps what can matter to the NPU stack within
//! a fixed memory budget, whatever the log's size.
//!
//! A byte-level prefilter (one literal alternation) rejects most lines before they are
//! decoded or normalised. Kept lines are budgeted per kind — amdxdna's own lines, unnamed
//! module-loader lines near amdxdna's load, IOMMU page faults, other IOMMU lines, module
//! signing — each keeping its first and last lines, so a storm of one kind (450
//! `IO_PAGE_FAULT` lines) can never push out the line of another (the decisive amdxdna one).
//! Identical lines are kept once. Kernel crash blocks (oops, BUG, general protection fault,
//! hung task, `Fixing recursive fault`) are kept whole when their trace touches amdxdna, the
//! IOMMU SVA code, `aie2_*` or `/dev/accel`, and so is a crash that follows one (the
//! cascade). What was left out is counted per kind, for the evidence.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::OnceLock;

use super::commands::KernelLog;
use crate::parse::kernel_log::normalize_line;

/// Words that make a kernel-log line worth keeping.
const LOG_KEYWORDS: &[&str] = &[
    "amdxdna",
    "amdnpu",
    "AMD-Vi",
    "iommu",
    "IOMMU",
    "Lockdown",
    "SVA",
    "PASID",
    "module verification",
    "Key was rejected",
];

/// Module-loader messages that do not name the module they refuse: the ELF checks of
/// kernel/module/main.c (`Invalid ELF header len|magic|type`, `Invalid (module )architecture in
/// ELF header`), the x86 relocation check (`x86/modules: Invalid relocation target, existing
/// value is nonzero for …`, older kernels `Skipping invalid relocation target …`,
/// arch/x86/kernel/module.c) and signature enforcement (`Loading of unsigned module is
/// rejected`, kernel/module/signing.c): <https://github.com/torvalds/linux/blob/master/kernel/module/main.c>,
/// <https://github.com/torvalds/linux/blob/master/arch/x86/kernel/module.c>,
/// <https://github.com/torvalds/linux/blob/master/kernel/module/signing.c>. The named ones
/// (`amdxdna: Unknown symbol …`, `amdxdna: disagrees about version of symbol …`) carry
/// `amdxdna` and are kept by [`LOG_KEYWORDS`].
const UNNAMED_LOADER_LINES: &[&str] = &[
    "Invalid ELF header",
    "architecture in ELF header",
    "invalid relocation target",
    "Invalid relocation target",
    "Loading of unsigned module is rejected",
    "Loading of module with unavailable key is rejected",
    "Loading of module with unsupported crypto is rejected",
];

/// The first line of a kernel crash report: `BUG: kernel NULL pointer dereference`, `BUG:
/// scheduling while atomic`, `Oops: general protection fault`, a `WARNING: CPU:` splat, a hung
/// task (`INFO: task … blocked for more than … seconds.`), `Fixing recursive fault but reboot
/// is needed!` (the kernel's own messages: kernel/sched/core.c `__schedule_bug`,
/// arch/x86/mm/fault.c, kernel/hung_task.c, kernel/exit.c `make_task_dead`,
/// <https://github.com/torvalds/linux/blob/v7.0/kernel/exit.c>).
const CRASH_STARTS: &[&str] = &[
    "BUG: ",
    "Oops: ",
    "general protection fault",
    "WARNING: CPU: ",
    "INFO: task ",
    "Fixing recursive fault",
    "Kernel panic",
];

/// What in a crash block ties it to the NPU stack.
const CRASH_TIES: &[&str] = &["amdxdna", "iommu_sva_", "aie2_", "/dev/accel", "amdnpu"];

/// How many log lines before or after an amdxdna line an unnamed loader line may sit and
/// still be attributed to amdxdna's load (the journal has no timestamps in `-o cat`; a boot
/// interleaves the udev-triggered loads of many modules).
const LOADER_WINDOW: usize = 25;

/// Most lines of one crash block kept (a trace with its module list fits).
const CRASH_BLOCK_LINES: usize = 80;

/// A crash that starts this many lines after a kept one is its cascade (the recursive
/// fault, scheduling while atomic in the dying task) and is kept too.
const CASCADE_LINES: usize = 200;

/// The kinds of kept lines, each with its budget: (name, first lines kept, last lines kept).
const KINDS: &[(&str, usize, usize)] = &[
    ("amdxdna", 200, 200),
    ("module-loader", 20, 20),
    ("iommu-fault", 10, 10),
    ("iommu", 40, 40),
    ("module-signing", 20, 20),
];
const AMDXDNA: usize = 0;
const LOADER: usize = 1;
const FAULT: usize = 2;
const IOMMU: usize = 3;
const SIGNING: usize = 4;

/// Crash blocks kept: the first and the last ones.
const CRASH_HEAD: usize = 3;
const CRASH_TAIL: usize = 2;

fn prefilter() -> &'static regex::bytes::Regex {
    static RE: OnceLock<regex::bytes::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let words: Vec<String> = LOG_KEYWORDS
            .iter()
            .chain(UNNAMED_LOADER_LINES)
            .chain(CRASH_STARTS)
            .chain(["IO_PAGE_FAULT"].iter())
            .map(|w| regex::escape(w))
            .collect();
        regex::bytes::Regex::new(&words.join("|")).expect("literal alternation")
    })
}

/// First and last lines of one kind, identical lines kept once.
#[derive(Default)]
struct Budget {
    head: Vec<(usize, String)>,
    tail: VecDeque<(usize, String)>,
    kept: HashMap<String, usize>,
    dropped: usize,
    repeated: usize,
}

impl Budget {
    fn push(&mut self, i: usize, line: String, head: usize, tail: usize) {
        if let Some(n) = self.kept.get_mut(&line) {
            *n += 1;
            self.repeated += 1;
            return;
        }
        if self.head.len() < head {
            self.kept.insert(line.clone(), 1);
            self.head.push((i, line));
            return;
        }
        self.kept.insert(line.clone(), 1);
        self.tail.push_back((i, line));
        if self.tail.len() > tail
            && let Some((_, old)) = self.tail.pop_front()
        {
            self.kept.remove(&old);
            self.dropped += 1;
        }
    }
}

/// One crash block being read.
struct Block {
    start: usize,
    lines: Vec<String>,
    cut: usize,
}

/// The streaming kernel-log filter.
pub(crate) struct LogFilter {
    index: usize,
    raw_lines: usize,
    budgets: Vec<Budget>,
    last_anchor: Option<usize>,
    pending_loader: VecDeque<(usize, String)>,
    block: Option<Block>,
    last_kept_crash_end: Option<usize>,
    crash_head: Vec<Vec<String>>,
    crash_tail: VecDeque<Vec<String>>,
    crashes_dropped: usize,
    crash_lines_cut: usize,
}

impl Default for LogFilter {
    fn default() -> Self {
        LogFilter {
            index: 0,
            raw_lines: 0,
            budgets: KINDS.iter().map(|_| Budget::default()).collect(),
            last_anchor: None,
            pending_loader: VecDeque::new(),
            block: None,
            last_kept_crash_end: None,
            crash_head: Vec::new(),
            crash_tail: VecDeque::new(),
            crashes_dropped: 0,
            crash_lines_cut: 0,
        }
    }
}

impl LogFilter {
    /// Lines with any content seen so far (the probe's "was there a log at all").
    pub(crate) fn raw_lines(&self) -> usize {
        self.raw_lines
    }

    /// Feeds one raw line (without its line end).
    pub(crate) fn feed(&mut self, raw: &[u8]) {
        if raw.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        self.raw_lines += 1;
        let interesting = prefilter().is_match(raw);
        if !interesting && self.block.is_none() {
            // A cheap count: boot markers and prefix-only lines are rare enough among the
            // lines nobody reads.
            let t = raw.trim_ascii();
            if !(t.starts_with(b"-- ") && t.ends_with(b" --")) {
                self.index += 1;
            }
            return;
        }
        let text = String::from_utf8_lossy(raw);
        let Some(m) = normalize_line(&text) else { return };
        let i = self.index;
        self.index += 1;
        // `Oops: …` right after `BUG: …` is the same report's header (arch/x86/mm/fault.c
        // prints the BUG line, then the #PF lines, then `Oops:`).
        let continues_report = m.starts_with("Oops: ") && self.block.as_ref().is_some_and(|b| b.lines.len() < 8);
        let starts_crash = !continues_report && CRASH_STARTS.iter().any(|s| m.starts_with(s));
        if starts_crash {
            self.end_block();
            self.block = Some(Block { start: i, lines: Vec::new(), cut: 0 });
        }
        if let Some(b) = &mut self.block {
            if b.lines.len() < CRASH_BLOCK_LINES {
                b.lines.push(m.to_string());
            } else {
                b.cut += 1;
            }
            if m.starts_with("---[ end trace") || m == "</TASK>" || b.lines.len() + b.cut >= CRASH_BLOCK_LINES {
                self.end_block();
            }
        }
        if interesting {
            self.classify(i, m);
        }
    }

    fn classify(&mut self, i: usize, m: &str) {
        let push = |budgets: &mut Vec<Budget>, k: usize, i: usize, m: String| {
            budgets[k].push(i, m, KINDS[k].1, KINDS[k].2);
        };
        if m.contains("IO_PAGE_FAULT") {
            push(&mut self.budgets, FAULT, i, m.to_string());
            return;
        }
        if UNNAMED_LOADER_LINES.iter().any(|k| m.contains(k)) && !m.contains("amdxdna") {
            if self.last_anchor.is_some_and(|a| i - a <= LOADER_WINDOW) {
                push(&mut self.budgets, LOADER, i, m.to_string());
            } else {
                self.pending_loader.push_back((i, m.to_string()));
                while self.pending_loader.front().is_some_and(|(p, _)| i - p > LOADER_WINDOW) {
                    self.pending_loader.pop_front();
                }
            }
            return;
        }
        if m.contains("amdxdna") || m.contains("amdnpu") {
            self.last_anchor = Some(i);
            while let Some((p, l)) = self.pending_loader.pop_front() {
                if i - p <= LOADER_WINDOW {
                    push(&mut self.budgets, LOADER, p, l);
                }
            }
            push(&mut self.budgets, AMDXDNA, i, m.to_string());
            return;
        }
        if ["Lockdown", "module verification", "Key was rejected"].iter().any(|k| m.contains(k)) {
            push(&mut self.budgets, SIGNING, i, m.to_string());
            return;
        }
        if LOG_KEYWORDS.iter().any(|k| m.contains(k)) {
            push(&mut self.budgets, IOMMU, i, m.to_string());
        }
    }

    fn end_block(&mut self) {
        let Some(b) = self.block.take() else { return };
        let tied = b.lines.iter().any(|l| CRASH_TIES.iter().any(|t| l.contains(t)));
        let cascade = self.last_kept_crash_end.is_some_and(|e| b.start.saturating_sub(e) <= CASCADE_LINES);
        if !(tied || cascade) {
            return;
        }
        self.last_kept_crash_end = Some(b.start + b.lines.len() + b.cut);
        self.crash_lines_cut += b.cut;
        if self.crash_head.len() < CRASH_HEAD {
            self.crash_head.push(b.lines);
        } else {
            self.crash_tail.push_back(b.lines);
            if self.crash_tail.len() > CRASH_TAIL {
                self.crash_tail.pop_front();
                self.crashes_dropped += 1;
            }
        }
    }

    /// The kept lines, in log order, with what was left out.
    pub(crate) fn finish(mut self, source: &str) -> KernelLog {
        self.end_block();
        let mut all: Vec<(usize, String)> = Vec::new();
        let mut dropped = BTreeMap::new();
        let mut repeated = 0;
        for (k, b) in self.budgets.into_iter().enumerate() {
            if b.dropped > 0 {
                dropped.insert(KINDS[k].0.to_string(), b.dropped);
            }
            repeated += b.repeated;
            all.extend(b.head);
            all.extend(b.tail);
        }
        if self.crashes_dropped > 0 {
            dropped.insert("crash-blocks".into(), self.crashes_dropped);
        }
        if self.crash_lines_cut > 0 {
            dropped.insert("crash-block-lines".into(), self.crash_lines_cut);
        }
        all.sort_by_key(|(i, _)| *i);
        let crashes: Vec<Vec<String>> = self.crash_head.into_iter().chain(self.crash_tail).collect();
        KernelLog {
            source: source.to_string(),
            lines: all.into_iter().map(|(_, l)| l).collect(),
            total_lines: self.index,
            crashes,
            dropped,
            repeated,
        }
    }
}

/// Filters a whole text.
#[cfg(test)]
pub(crate) fn filter_text(source: &str, text: &str) -> KernelLog {
    let mut f = LogFilter::default();
    for line in text.split('\n') {
        f.feed(line.as_bytes());
    }
    f.finish(source)
}
#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn loader_lines_near_amdxdna_are_kept_even_without_its_name() {
        // amd/xdna-driver#1469: a DKMS amdxdna refused on 6.17.0-35 while the in-tree one runs.
        let filler: Vec<String> = (0..40).map(|i| format!("usb 1-{i}: new high-speed USB device")).collect();
        let text = [
            vec!["module: x86/modules: Invalid relocation target, existing value is nonzero for type 1, loc 00000000c3a1b2d4, val ffffffffc1a2b3c4".to_string()],
            filler[..10].to_vec(),
            vec![
                "amdxdna 0000:c6:00.1: [drm] Load firmware amdnpu/17f0_11/npu.sbin".to_string(),
                "amdxdna: disagrees about version of symbol drm_sched_init".to_string(),
            ],
            filler[10..].to_vec(),
            // 30 lines after the last amdxdna line: another module's business.
            vec![
                "Invalid ELF header magic: != \x7fELF".to_string(),
                "nvidia: Unknown symbol drm_gem_object_free (err -2)".to_string(),
            ],
        ]
        .concat()
        .join("\n");
        let log = filter_text("dmesg", &text);
        assert_eq!(
            log.lines,
            [
                "module: x86/modules: Invalid relocation target, existing value is nonzero for type 1, loc 00000000c3a1b2d4, val ffffffffc1a2b3c4",
                "amdxdna 0000:c6:00.1: [drm] Load firmware amdnpu/17f0_11/npu.sbin",
                "amdxdna: disagrees about version of symbol drm_sched_init",
            ]
        );
        // With no amdxdna line at all, an unnamed loader line cannot be attributed.
        assert!(filter_text("dmesg", "Invalid ELF header magic: != \x7fELF\n").lines.is_empty());
    }

    #[test]
    fn a_page_fault_storm_never_displaces_the_decisive_amdxdna_line() {
        // Issue 14 item 8: 450 IO_PAGE_FAULT lines after the protocol error used to push it
        // out of the 400 kept lines (amd/xdna-driver#1645 shows the fault line's shape).
        let mut text = String::from(
            "[    5.1] amdxdna 0000:c6:00.1: [drm] *ERROR* aie2_check_protocol: Incompatible firmware protocol major 7 minor 3\n",
        );
        for n in 0..450 {
            text.push_str(&format!(
                "[  {n}.5] amdxdna 0000:c6:00.1: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0001 address=0x7468444{n:05x} flags=0x0027]\n"
            ));
        }
        let log = filter_text("dmesg", &text);
        assert_eq!(
            log.lines[0],
            "amdxdna 0000:c6:00.1: [drm] *ERROR* aie2_check_protocol: Incompatible firmware protocol major 7 minor 3"
        );
        assert_eq!(log.lines.iter().filter(|l| l.contains("IO_PAGE_FAULT")).count(), 20);
        assert_eq!(log.dropped.get("iommu-fault"), Some(&430));
        assert_eq!(log.total_lines, 451);
        assert!(log.truncation().unwrap().contains("430 iommu-fault"), "{:?}", log.truncation());
        // So does a storm of amdxdna's own lines: the first ones stay.
        let mut text = String::from("amdxdna 0000:c6:00.1: SVA bind device failed, ret -19\n");
        for n in 0..5000 {
            text.push_str(&format!("amdxdna 0000:c6:00.1: [drm] *ERROR* aie2_hwctx_init: noise {n}\n"));
        }
        let log = filter_text("dmesg", &text);
        assert_eq!(log.lines[0], "amdxdna 0000:c6:00.1: SVA bind device failed, ret -19");
        assert_eq!(log.lines.len(), 400);
    }

    #[test]
    fn repeated_lines_are_kept_once() {
        let line = "amdxdna 0000:c6:00.1: [drm] *ERROR* aie2_get_info: Not supported request parameter 8";
        let text = (0..1000).map(|n| format!("[{n}.0] {line}")).collect::<Vec<_>>().join("\n");
        let log = filter_text("dmesg", &text);
        assert_eq!(log.lines, [line]);
        assert_eq!(log.repeated, 999);
        assert!(log.dropped.is_empty());
    }

    /// The crash of https://github.com/ROCm/FastFlowLM/issues/103 (comment of 2026-04-15):
    /// its first line and the two follow-ups as quoted there (the thread's copy of the trace
    /// is cut), the call chain `iommu_sva_unbind_device` <- `amdxdna_drm_close` <- `drm_release`
    /// as quoted in https://github.com/amd/xdna-driver/issues/16; the other lines complete the
    /// block in the kernel's format.
    pub(crate) const GPF: &str = "\
[  375.978846] Oops: general protection fault, probably for non-canonical address 0xdead000000000122: 0000 [#1] SMP NOPTI
[  375.978850] CPU: 3 UID: 1000 PID: 4242 Comm: flm Not tainted 6.19.8-200.fc43.x86_64 #1 PREEMPT(lazy)
[  375.978852] Hardware name: Framework Laptop 13 (AMD Ryzen AI 300 Series)/FRANMGCP09, BIOS 03.04 01/01/2026
[  375.978855] RIP: 0010:iommu_sva_unbind_device+0x2f/0xa0
[  375.978870] Call Trace:
[  375.978871]  <TASK>
[  375.978873]  amdxdna_drm_close+0xa5/0x130 [amdxdna]
[  375.978880]  drm_file_free+0x1e6/0x260 [drm]
[  375.978885]  drm_release+0xc7/0x150 [drm]
[  375.978890]  __fput+0x9e/0x2e0
[  375.978895]  </TASK>
[  375.978900] usb 3-1: new full-speed USB device number 4 using xhci_hcd
[  375.979000] BUG: scheduling while atomic: flm/4242/0x00000002
[  375.979010] Call Trace:
[  375.979011]  <TASK>
[  375.979012]  __schedule_bug+0x5d/0x80
[  375.979013]  </TASK>
[  375.979100] Fixing recursive fault but reboot is needed!
";

    #[test]
    fn crash_blocks_touching_the_npu_stack_are_kept_with_their_cascade() {
        let text = format!(
            "[    1.0] BUG: kernel NULL pointer dereference, address: 0000000000000008\n[    1.1] RIP: 0010:btrfs_something+0x1/0x2\n[    1.2] ---[ end trace 0000000000000000 ]---\n{GPF}"
        );
        let log = filter_text("dmesg", &text);
        // The btrfs oops is another driver's; the GPF, the BUG after it and the recursive
        // fault are kept; the USB line between them is not a kept line.
        assert_eq!(log.crashes.len(), 3, "{:#?}", log.crashes);
        assert!(log.crashes[0][0].starts_with("Oops: general protection fault"));
        assert!(log.crashes[0].iter().any(|l| l.contains("amdxdna_drm_close")));
        assert_eq!(log.crashes[1][0], "BUG: scheduling while atomic: flm/4242/0x00000002");
        assert_eq!(log.crashes[2], ["Fixing recursive fault but reboot is needed!"]);
        assert!(log.lines.iter().all(|l| !l.contains("USB")));
        assert!(log.kept_lines().any(|l| l.contains("iommu_sva_unbind_device")));
    }
}
