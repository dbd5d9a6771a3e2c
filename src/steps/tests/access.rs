//! `access`: the target user can open the NPU's device node.

use super::*;
use crate::steps::access::Access;

/// recipes/files.yaml `accel_udev_rule`.
const UDEV_RULE: &str = "etc/udev/rules.d/70-npu-setup-accel.rules";

const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\n";
const GROUP: &str = "root:x:0:\nvideo:x:39:\nrender:x:105:\nalice:x:1000:\n";

fn scratch(group: &str) -> Scratch {
    Scratch::running(&[("etc/passwd", PASSWD), ("etc/group", group)])
}

fn render_0660() -> Host {
    Host::halo().accel_mode("0660", 105)
}

#[test]
fn nothing_for_a_world_writable_node() {
    let p = scratch(GROUP).plan(&Access, &Host::halo());
    assert!(p.is_empty() && noted(&p, "world read-write"), "{p:#?}");
}

#[test]
fn the_user_joins_the_nodes_group() {
    let p = scratch(GROUP).plan(&Access, &render_0660());
    assert_eq!(runs(&p), ["usermod -aG render alice"]);
    assert!(noted(&p, "alice must log out and back in for the render group to apply"));
    let offline = Scratch::offline(&[("etc/passwd", PASSWD), ("etc/group", GROUP)]);
    let p = offline.plan(&Access, &render_0660());
    assert_eq!(runs(&p), [format!("usermod --root {} -aG render alice", offline.path().display())]);
    // Already a member (etc/group of the root is what counts): converged.
    assert!(scratch("root:x:0:\nrender:x:105:alice\nalice:x:1000:\n").plan(&Access, &render_0660()).is_empty());
}

#[test]
fn a_node_without_group_access_gets_a_udev_rule() {
    let s = scratch(GROUP);
    let p = s.plan(&Access, &Host::halo().accel_mode("0600", 0));
    assert_eq!(
        summary(&p),
        [
            format!("write {UDEV_RULE}"),
            "run udevadm control --reload".into(),
            "run udevadm trigger --subsystem-match=accel".into(),
            "run usermod -aG render alice".into()
        ]
    );
    assert!(content(&p, UDEV_RULE).contains("GROUP=\"render\", MODE=\"0660\""));
    s.write_planned(&p);
    let p = s.plan(&Access, &Host::halo().accel_mode("0600", 0));
    assert_eq!(summary(&p), ["run usermod -aG render alice"]);
    assert!(noted(&p, "is in place; the node changes when udev re-applies it"));
}

#[test]
fn the_target_user() {
    let root_only = Host::halo().with(|f| f.users.ok_mut().name = "root".into());
    let p = scratch(GROUP).plan(&Access, &root_only);
    assert!(p.is_empty() && noted(&p, "no target user (pass --user NAME)"), "{p:#?}");
    let bob = InstallArgs { user: Some("bob".into()), ..Default::default() };
    let p = scratch(GROUP).plan_with(&Access, &render_0660(), &bob);
    assert_eq!(p.blocked.as_deref(), Some("user bob does not exist in /etc/passwd (--user)"));
    let p = scratch("root:x:0:\nalice:x:1000:\n").plan(&Access, &render_0660().accel_mode("0660", 999));
    assert!(noted(&p, "group render does not exist yet"), "{p:#?}");
}
