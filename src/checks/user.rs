//! `accel.node` (can the target user open `/dev/accel/accelN`) and `limits.memlock` (is the
//! locked-memory limit high enough for NPU buffer objects in every context that runs FLM).
//!
//! `flm validate` reports EACCES as "No NPU device found" (ROCm/FastFlowLM#400); memlock
//! needs limits.d and, on distros whose recipe says `user_service_memlock` (the xdna-driver
//! README names Fedora), a `user@.service` drop-in
//! (<https://github.com/amd/xdna-driver/blob/c4052fc30322f8fa0a7f388f171bcb065d6dab6b/README.md>).

use super::{Ctx, Outcome, Remedy, install_cmd, probe_problem};
use crate::host::users::{NodeInfo, UserFacts};
use crate::parse::limits::{Memlock, parse_systemd_limit};

/// Why `user` can or cannot open a node for read and write.
pub fn access(user: &UserFacts, node: &NodeInfo) -> Result<String, String> {
    let Some(st) = &node.stat else { return Err(format!("{} does not exist", node.path)) };
    let mode = u32::from_str_radix(&st.mode, 8).unwrap_or(0);
    let group = user
        .all_groups
        .iter()
        .find(|(_, g)| *g == st.gid)
        .map(|(n, _)| n.clone())
        .unwrap_or_else(|| st.gid.to_string());
    let desc = format!("{} is {} mode {} uid {} group {}", node.path, st.kind, st.mode, st.uid, group);
    if user.uid == Some(0) {
        return Ok(format!("{desc}; {} is root", user.name));
    }
    if mode & 0o006 == 0o006 {
        return Ok(format!("{desc}; world read-write"));
    }
    if user.uid == Some(st.uid) && mode & 0o600 == 0o600 {
        return Ok(format!("{desc}; {} owns it", user.name));
    }
    if mode & 0o060 == 0o060 && user.groups.iter().any(|(_, g)| *g == st.gid) {
        return Ok(format!("{desc}; {} is in {group}", user.name));
    }
    Err(format!("{desc}, and {} is not in {group}", user.name))
}

/// `accel.node`.
pub fn accel_node(c: &Ctx) -> Outcome {
    if let Some(o) = probe_problem(&c.f.nodes, "device nodes") {
        return o;
    }
    if let Some(o) = probe_problem(&c.f.users, "users") {
        return o;
    }
    let (Some(nodes), Some(user)) = (c.f.nodes.ok(), c.f.users.ok()) else { unreachable!() };
    let Some(n) = c.a.npu else { return Outcome::skip("no NPU") };
    let base = |o: Outcome| {
        o.ev("user", &user.name)
            .ev("user_source", &user.source)
            .ev("user_groups", &user.groups)
            .ev("nodes", &nodes.accel)
    };
    let wanted: Vec<String> = n.accel.iter().map(|a| format!("/dev/accel/{a}")).collect();
    let node = nodes.accel.iter().find(|x| wanted.contains(&x.path)).or(nodes.accel.first());
    let Some(node) = node else {
        return base(Outcome::fail("no /dev/accel/accel* node: the driver did not register the NPU"))
            .suspects(&["driver.bound", "driver.module", "firmware.compat", "firmware.files", "boot.iommu"])
            .remedy(Remedy { text: "Fix the driver layer first (driver.bound).".into(), ..Default::default() });
    };
    if !user.exists {
        return base(Outcome::warn(format!("user {} does not exist in /etc/passwd; access not judged", user.name)))
            .remedy(Remedy {
                text: "Pass the user who runs inference with --user NAME.".into(),
                ..Default::default()
            });
    }
    match access(user, node) {
        Ok(why) => base(Outcome::pass(why)),
        Err(why) if let Some(fg) = crate::knowledge::access::foreign_group(user, node) => {
            base(Outcome::fail(foreign_summary(&why, &fg)))
                .ev("foreign_group", &fg)
                .remedy(foreign_remedy(&fg, node, user))
        }
        Err(why) => {
            let group = node
                .stat
                .as_ref()
                .and_then(|st| user.all_groups.iter().find(|(_, g)| *g == st.gid).map(|(n, _)| n.clone()))
                .unwrap_or_else(|| "render".into());
            base(Outcome::fail(why)).remedy(Remedy {
                text: format!(
                    "Add {} to the {group} group and log in again (flm validate reports this as \"No NPU device found\"), or install a udev rule granting access.",
                    user.name
                ),
                commands: vec![format!("sudo usermod -aG {group} {}", user.name), install_cmd("access")],
                step: Some("access".into()),
                reboot: false,
                docs: Some("https://github.com/ROCm/FastFlowLM/issues/400".into()),
            })
        }
    }
}

/// The summary when the node's group comes from outside this system (a container's host).
fn foreign_summary(why: &str, fg: &crate::knowledge::access::ForeignGroup) -> String {
    use crate::knowledge::access::ForeignGroup;
    match fg {
        ForeignGroup::Unnamed { gid, .. } => format!(
            "{why}: no group of this system has id {gid}, so the node was passed in from outside (a container whose host's render group has another id)"
        ),
        ForeignGroup::Unmapped => format!(
            "{why}: its group is not mapped into this user namespace (rootless or unprivileged container), so no group membership here grants access"
        ),
    }
}

/// Where the group of a passed-in node is fixed: where the container gets it.
fn foreign_remedy(fg: &crate::knowledge::access::ForeignGroup, node: &NodeInfo, user: &UserFacts) -> Remedy {
    use crate::knowledge::access::ForeignGroup;
    let path = &node.path;
    match fg {
        ForeignGroup::Unnamed { gid, local } => {
            let (lname, lgid) = local.clone().unwrap_or_else(|| ("render".into(), 0));
            let pass = if lgid > 0 {
                format!(
                    "pass {path} in with this system's {lname} group id {lgid} (Proxmox: `devN: {path},gid={lgid}` in /etc/pve/lxc/<id>.conf; Docker/Podman: `--device {path} --group-add {gid}`)"
                )
            } else {
                format!(
                    "pass {path} in with a group id this system has (Proxmox: `devN: {path},gid=<id>` in /etc/pve/lxc/<id>.conf)"
                )
            };
            Remedy {
                text: format!(
                    "Adding {} to a group by name cannot help: {pass}, or give id {gid} a group here and add {} to it.",
                    user.name, user.name
                ),
                commands: vec![
                    format!("sudo groupadd -g {gid} accel-host"),
                    format!("sudo usermod -aG accel-host {}", user.name),
                ],
                reboot: false,
                step: None,
                docs: Some("https://github.com/Hal0ai/hal0/pull/2213".into()),
            }
        }
        ForeignGroup::Unmapped => Remedy {
            text: format!(
                "Map the host's group of {path} into the container (Proxmox: `devN: {path},gid=<a group id of the guest>`; LXC: an lxc.idmap entry for that id), or run the container rootful with `--device {path} --group-add <the host's render group id>`."
            ),
            reboot: false,
            docs: Some("https://github.com/lemonade-sdk/lemonade/pull/2746".into()),
            ..Default::default()
        },
    }
}

/// A pam_limits value; `distro` names whose default applies when nothing sets it.
fn show(m: Option<Memlock>, distro: &str) -> String {
    match m {
        Some(Memlock::Unlimited) => "unlimited".into(),
        Some(Memlock::KiB(k)) => format!("{k} KiB"),
        None => format!("not set ({distro} default)"),
    }
}

/// `limits.memlock`.
pub fn limits_memlock(c: &Ctx) -> Outcome {
    if let Some(o) = probe_problem(&c.f.memlock, "memlock configuration") {
        return o;
    }
    let Some(m) = c.f.memlock.ok() else { unreachable!() };
    let user = c.f.users.ok();
    let session = crate::knowledge::paths::session_memlock(c.f, user);
    let (soft, hard, used) = (session.soft, session.hard, &session.used);
    let needs_user_service = c.distro().is_some_and(|d| d.user_service_memlock);
    // Whose defaults and whose systemd user sessions these are: the host's distro by name
    // (a derivative with its base), never a fixed one.
    let distro = c.host_distro().map(|h| h.name());
    let defaults = distro.as_ref().map(|d| format!("{d}'s")).unwrap_or_else(|| "the distro's".into());
    let show = |m: Option<Memlock>| show(m, &defaults);
    let user_service = m.user_service.last().and_then(|u| parse_systemd_limit(&u.value));
    let unit = c.f.lemonade.ok().and_then(|l| l.unit());
    let unit_limit = unit.and_then(|u| u.limit_memlock.clone());
    let release = crate::knowledge::lemonade::release(c.f, c.r);
    let unit_memlock = unit.map(|u| crate::knowledge::lemonade::unit_memlock(u, release.as_ref(), c.r).describe());
    let flm = c.f.flm.ok().and_then(|f| f.validate.as_ref()).and_then(|v| v.memlock_limit.clone());
    let base = |o: Outcome| {
        o.ev("login_soft", show(soft))
            .ev("login_hard", show(hard))
            .ev("limits_lines", used)
            .ev("user_service", &m.user_service)
            .ev("needs_user_service_dropin", needs_user_service)
            .ev("lemonade_unit_limit", &unit_limit)
            .ev("lemonade_unit_memlock", &unit_memlock)
            .ev("flm_validate_memlock", &flm)
            .ev("process", &m.process)
    };
    let remedy = |what: &str| Remedy {
        text: format!(
            "{what} Write {} with `* soft memlock unlimited` and `* hard memlock unlimited`{}; then log out and back in (running sessions keep the old limit).",
            crate::root::Root::display(&c.r.files.memlock_limits),
            if needs_user_service {
                format!(
                    ", plus {} with [Service] LimitMEMLOCK=infinity ({} systemd user sessions ignore limits.d)",
                    crate::root::Root::display(&c.r.files.memlock_user_dropin),
                    defaults
                )
            } else {
                String::new()
            }
        ),
        commands: vec![install_cmd("limits")],
        step: Some("limits".into()),
        reboot: false,
        docs: Some("https://github.com/amd/xdna-driver#faq".into()),
    };
    let unlimited = |x: Option<Memlock>| x == Some(Memlock::Unlimited);
    // PAM reads a conf= file instead of limits.conf + limits.d (NixOS renders
    // security.pam.loginLimits into one): the limit must be set there.
    if let Some(conf) = &session.conf
        && conf != "/etc/security/limits.conf"
        && !(unlimited(soft) && unlimited(hard))
    {
        return base(Outcome::fail(format!(
            "login sessions get memlock soft {} / hard {} from {conf} (pam_limits conf= of {}; limits.d is not read); NPU buffers need unlimited",
            show(soft),
            show(hard),
            session.service.as_deref().unwrap_or("PAM")
        )))
        .ev("pam_limits_conf", conf)
        .remedy(Remedy {
            text: format!(
                "PAM's pam_limits reads {conf} (its conf= argument), not /etc/security/limits.d. Set memlock unlimited in the configuration that generates it (on NixOS: security.pam.loginLimits with domain \"*\", type \"-\", item \"memlock\", value \"unlimited\"; then nixos-rebuild switch) and log in again."
            ),
            docs: Some("https://github.com/NixOS/nixpkgs/blob/408b8b5725c3e6fff75aef772da248d3e95ff414/nixos/modules/security/pam.nix".into()),
            ..Default::default()
        });
    }
    if !(unlimited(soft) && unlimited(hard)) {
        return base(Outcome::fail(format!(
            "login sessions get memlock soft {} / hard {}; NPU buffers need unlimited",
            show(soft),
            show(hard)
        )))
        .remedy(remedy("BO allocation fails with a low max-locked-memory limit (xdna-driver README)."));
    }
    if needs_user_service && user_service != Some(Memlock::Unlimited) {
        return base(Outcome::fail(format!(
            "limits.d is set, but no user@.service drop-in sets LimitMEMLOCK=infinity ({defaults} systemd user sessions keep a low ulimit -l, e.g. 8192 KiB, despite limits.d)"
        )))
        .remedy(remedy(&format!("{defaults} systemd user manager does not apply limits.d (xdna-driver README).")));
    }
    if let Some(u) = unit
        && let m = crate::knowledge::lemonade::unit_memlock(u, release.as_ref(), c.r)
        && !m.ok()
    {
        return base(Outcome::fail(format!("{}: {} (flm cannot pin NPU buffers)", u.name, m.describe()))).remedy(
            Remedy {
                text: "Give the Lemonade unit LimitMEMLOCK=infinity (drop-in); Lemonade's own unit grants AmbientCapabilities=CAP_SYS_RESOURCE instead from 10.0.1 (https://github.com/lemonade-sdk/lemonade/pull/1339).".into(),
                commands: vec![install_cmd("lemonade-service")],
                step: Some("lemonade-service".into()),
                ..Default::default()
            },
        );
    }
    let o = base(Outcome::pass(format!(
        "unlimited for login sessions{}{}{}",
        session
            .conf
            .as_ref()
            .filter(|c| *c != "/etc/security/limits.conf")
            .map(|c| format!(" ({c}, pam_limits conf=)"))
            .unwrap_or_default(),
        if needs_user_service { " and user@.service" } else { "" },
        unit.map(|u| format!(" and {}", u.name)).unwrap_or_default()
    )));
    match &session.conf {
        Some(conf) => o.ev("pam_limits_conf", conf).ev("pam_service", &session.service),
        None => o,
    }
}
