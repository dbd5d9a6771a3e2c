//! `loader`: an ld.so.conf.d entry for the XRT libraries, then ldconfig.

use super::*;
use crate::steps::loader::Loader;

/// recipes/files.yaml `loader_conf`.
const CONF: &str = "etc/ld.so.conf.d/npu-setup-xrt.conf";

fn unresolvable() -> Host {
    Host::halo().xrt_lib("libxrt_coreutil.so.2", &["/opt/xilinx/xrt/lib64/libxrt_coreutil.so.2"], None)
}

#[test]
fn nothing_when_the_libraries_resolve() {
    let p = Scratch::running(&[]).plan(&Loader, &Host::halo());
    assert!(p.is_empty() && noted(&p, "XRT libraries resolve (/opt/xilinx/xrt/lib64/libxrt_coreutil.so.2"), "{p:#?}");
    let none = Host::halo().xrt_lib("libxrt_coreutil.so.2", &[], None).xrt_lib("libxrt_driver_xdna.so.2", &[], None);
    let p = Scratch::running(&[]).plan(&Loader, &none);
    assert!(p.is_empty() && noted(&p, "XRT is not installed yet"), "{p:#?}");
}

#[test]
fn writes_its_entry_and_runs_ldconfig() {
    let s = Scratch::running(&[]);
    let p = s.plan(&Loader, &unresolvable());
    assert_eq!(summary(&p), [format!("write {CONF}"), "run ldconfig".into()]);
    assert!(content(&p, CONF).ends_with("\n/opt/xilinx/xrt/lib64\n"), "{}", content(&p, CONF));
    assert!(crate::edit::managed::is_managed(content(&p, CONF)));
    // Planned again over what it wrote: converged.
    s.write_planned(&p);
    assert!(s.plan(&Loader, &unresolvable()).is_empty());
}

#[test]
fn keeps_the_directories_it_configured_before() {
    let ours = crate::edit::managed::managed_file("#", "/opt/other/lib\n");
    let p = Scratch::running(&[(CONF, &ours)]).plan(&Loader, &unresolvable());
    assert!(content(&p, CONF).ends_with("/opt/other/lib\n/opt/xilinx/xrt/lib64\n"), "{}", content(&p, CONF));
}

#[test]
fn a_stale_cache_only_needs_ldconfig() {
    let h = Host::halo().with(|f| f.ld_cache.ok_mut().retain(|(s, _)| s != "libxrt_driver_xdna.so.2"));
    assert_eq!(summary(&Scratch::running(&[]).plan(&Loader, &h)), ["run ldconfig"]);
}

#[test]
fn an_offline_tree_gets_its_own_cache() {
    let s = Scratch::offline(&[]);
    assert_eq!(runs(&s.plan(&Loader, &unresolvable())), [format!("ldconfig -r {}", s.path().display())]);
}

#[test]
fn blocks_without_loader_facts() {
    let p = Scratch::running(&[]).plan(&Loader, &Host::halo().probe_error("loader", "EIO"));
    assert_eq!(p.blocked.as_deref(), Some("cannot read the loader configuration: EIO"));
}
