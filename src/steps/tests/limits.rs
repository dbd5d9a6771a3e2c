//! `limits`: memlock unlimited in limits.d and, where the distro needs it, user@.service.

use super::*;
use crate::steps::limits::Limits;

/// recipes/files.yaml `memlock_limits` and `memlock_user_dropin`.
const LIMITS_FILE: &str = "etc/security/limits.d/99-npu-setup-memlock.conf";
const USER_DROPIN: &str = "etc/systemd/system/user@.service.d/90-npu-setup-memlock.conf";

fn no_dropin(h: Host) -> Host {
    h.with(|f| f.memlock.ok_mut().user_service.clear())
}

#[test]
fn nothing_when_memlock_is_unlimited_everywhere() {
    assert!(Scratch::running(&[]).plan(&Limits, &Host::halo()).is_empty());
}

#[test]
fn writes_limits_d_when_login_sessions_are_limited() {
    let s = Scratch::running(&[]);
    let p = s.plan(&Limits, &Host::halo().memlock_limits(&[("*", "soft", "8192"), ("*", "hard", "8192")]));
    assert_eq!(summary(&p), [format!("write {LIMITS_FILE}")]);
    assert!(content(&p, LIMITS_FILE).ends_with("*\tsoft\tmemlock\tunlimited\n*\thard\tmemlock\tunlimited\n"));
    assert!(noted(&p, "log out and back in"));
    // A user's own line does not cover the service accounts: only `*` counts here.
    let p = s.plan(&Limits, &Host::halo().memlock_limits(&[("alice", "-", "unlimited")]));
    assert_eq!(summary(&p), [format!("write {LIMITS_FILE}")]);
}

#[test]
fn fedora_gets_the_user_service_dropin() {
    let s = Scratch::running(&[]);
    let p = s.plan(&Limits, &no_dropin(Host::halo()));
    assert_eq!(summary(&p), [format!("write {USER_DROPIN}"), "run systemctl daemon-reload".into()]);
    assert!(content(&p, USER_DROPIN).ends_with("[Service]\nLimitMEMLOCK=infinity\n"));
    assert!(s.plan(&Limits, &no_dropin(Host::halo().os("ubuntu", "24.04"))).is_empty(), "Ubuntu applies limits.d");
    let offline = Scratch::offline(&[]);
    assert_eq!(summary(&offline.plan(&Limits, &no_dropin(Host::halo()))), [format!("write {USER_DROPIN}")]);
}

#[test]
fn its_own_files_are_kept_current_and_then_left_alone() {
    let s = Scratch::running(&[(LIMITS_FILE, "# an older version\n* soft memlock unlimited\n")]);
    let p = s.plan(&Limits, &Host::halo());
    assert_eq!(summary(&p), [format!("write {LIMITS_FILE}")], "ours, out of date");
    s.write_planned(&p);
    assert!(s.plan(&Limits, &Host::halo()).is_empty());
}

#[test]
fn blocks_without_memlock_facts() {
    let p = Scratch::running(&[]).plan(&Limits, &Host::halo().probe_error("memlock", "EIO"));
    assert_eq!(p.blocked.as_deref(), Some("cannot read memlock configuration: EIO"));
}
