//! `access`: the target user can open the NPU (and GPU) device nodes. The default node is
//! `root:render 0660` (Ubuntu, lemonade#1771), so the user joins the node's group;
//! `flm validate` would otherwise only say "No NPU device found" (ROCm/FastFlowLM#400).

use anyhow::Result;

use super::{Plan, Step, StepCtx, action::Action};
use crate::edit::managed::managed_file;

/// The access step.
pub struct Access;

impl Step for Access {
    fn id(&self) -> &'static str {
        "access"
    }
    fn summary(&self) -> &'static str {
        "device-node access for --user (render group; a udev rule when the node has no group access)"
    }
    fn plan(&self, cx: &StepCtx) -> Result<Plan> {
        let mut p = Plan::default();
        let Some(user) = cx.user() else {
            p.notes.push("no target user (pass --user NAME): group membership not changed".into());
            return Ok(p);
        };
        let Some(u) = cx.facts.users.ok() else {
            p.blocked = Some(format!("cannot read users: {}", cx.facts.users.reason().unwrap_or("")));
            return Ok(p);
        };
        let accounts = crate::host::users::Accounts::read(cx.root)?;
        if accounts.user(&user).is_none() {
            p.blocked = Some(format!("user {user} does not exist in /etc/passwd (--user)"));
            return Ok(p);
        }
        let groups = &accounts.groups;
        // The group owning the accel node, else the distros' convention (render).
        let node_gid = cx
            .facts
            .nodes
            .ok()
            .and_then(|n| n.accel.first())
            .and_then(|n| n.stat.as_ref())
            .map(|s| (s.gid, s.mode.clone()));
        let mut group = "render".to_string();
        if let Some((gid, mode)) = &node_gid {
            let bits = u32::from_str_radix(mode, 8).unwrap_or(0);
            if bits & 0o006 == 0o006 {
                p.notes.push("the NPU node is world read-write: no group needed".into());
                return Ok(p);
            }
            let owner_group = groups.iter().find(|g| g.gid == *gid).map(|g| g.name.clone());
            if bits & 0o060 == 0o060
                && let Some(og) = owner_group
            {
                group = og;
            } else {
                // The node is not group-accessible (e.g. root:root 0600): a udev rule gives it
                // to render 0660, the distros' convention for accel and DRM render nodes.
                let rule = managed_file(
                    "#",
                    "# /dev/accel/accel* of the AMD NPU: group render, read-write for the group.\n\
                     KERNEL==\"accel*\", SUBSYSTEM==\"accel\", DRIVERS==\"amdxdna\", GROUP=\"render\", MODE=\"0660\"\n",
                );
                if cx.root.read_optional(&cx.recipes.files.accel_udev_rule)?.as_deref() != Some(rule.as_str()) {
                    p.actions.push(Action::WriteFile {
                        path: cx.recipes.files.accel_udev_rule.clone(),
                        content: rule,
                        mode: 0o644,
                    });
                    if !cx.offline() {
                        p.actions.push(Action::Run {
                            argv: vec!["udevadm".into(), "control".into(), "--reload".into()],
                            why: "load the accel rule".into(),
                        });
                        p.actions.push(Action::Run {
                            argv: vec!["udevadm".into(), "trigger".into(), "--subsystem-match=accel".into()],
                            why: "apply it to the existing node".into(),
                        });
                    }
                } else {
                    p.notes.push(format!(
                        "{} is in place; the node changes when udev re-applies it (replug or reboot)",
                        crate::root::Root::display(&cx.recipes.files.accel_udev_rule)
                    ));
                }
            }
        }
        let Some(g) = groups.iter().find(|g| g.name == group) else {
            p.notes.push(format!(
                "group {group} does not exist yet (created by udev/systemd on first boot); nothing to do"
            ));
            return Ok(p);
        };
        let primary = accounts.user(&user).map(|e| e.gid) == Some(g.gid);
        if g.members.iter().any(|m| m == &user) || primary || u.name == "root" {
            return Ok(p);
        }
        let mut argv = vec!["usermod".to_string()];
        if cx.offline() {
            argv.extend(["--root".into(), cx.root.path().display().to_string()]);
        }
        argv.extend(["-aG".into(), group.clone(), user.clone()]);
        p.actions.push(Action::Run { argv, why: format!("let {user} open /dev/accel/* and /dev/dri/renderD*") });
        p.notes.push(format!("{user} must log out and back in for the {group} group to apply"));
        Ok(p)
    }
}
