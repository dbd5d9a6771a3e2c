//! CPU and memory of the host. The only module that uses `sysinfo` (it always reads the live
//! machine, so it runs only on a live root); other roots read their own `proc/` files
//! through procfs's `FromRead` parsers.

use procfs::FromRead;
use serde::{Deserialize, Serialize};

use super::Probed;
use crate::root::{Root, RootMode};

/// CPU and memory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Resources {
    /// CPU model name.
    pub cpu: Option<String>,
    /// Logical CPUs.
    pub cpus: usize,
    /// Total memory in MiB.
    pub memory_mib: u64,
    /// Available memory in MiB.
    pub available_mib: u64,
}

/// Reads CPU and memory facts.
pub fn probe_resources(root: &Root) -> Probed<Resources> {
    match root.mode() {
        RootMode::Live => {
            let mut sys = match sysinfo::System::new() {
                Ok(s) => s,
                Err(e) => return Probed::Error(format!("reading system information: {e}")),
            };
            sys.refresh_memory();
            sys.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
            Probed::Ok(Resources {
                cpu: sys.cpus().first().map(|c| c.brand().trim().to_string()).filter(|s| !s.is_empty()),
                cpus: sys.cpus().len(),
                memory_mib: sys.total_memory() / (1024 * 1024),
                available_mib: sys.available_memory() / (1024 * 1024),
            })
        }
        RootMode::Fixture => {
            let mut r = Resources::default();
            if let Ok(info) = root.host_path("proc/cpuinfo").and_then(|p| Ok(procfs::CpuInfo::from_file(p)?)) {
                r.cpus = info.num_cores();
                r.cpu = info.model_name(0).map(str::to_string);
            }
            match root.host_path("proc/meminfo").and_then(|p| Ok(procfs::Meminfo::from_file(p)?)) {
                Ok(m) => {
                    r.memory_mib = m.mem_total / (1024 * 1024);
                    r.available_mib = m.mem_available.unwrap_or(m.mem_free) / (1024 * 1024);
                }
                Err(e) => return Probed::Error(format!("reading /proc/meminfo: {e}")),
            }
            Probed::Ok(r)
        }
        RootMode::Offline => Probed::Skipped("offline root: not the running machine".into()),
    }
}
