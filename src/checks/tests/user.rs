//! `accel.node`, `limits.memlock`.

use super::*;

#[test]
fn accel_node() {
    expect(
        &Host::halo(),
        "accel.node",
        Pass,
        "/dev/accel/accel0 is char mode 0666 uid 0 group render; world read-write",
    );
    let in_render = [("alice", 1000), ("render", 105)];
    let h = Host::halo().accel_mode("0660", 105).user_groups(&in_render);
    expect(&h, "accel.node", Pass, "alice is in render");
    let c = expect(&Host::halo().accel_mode("0660", 105), "accel.node", Fail, "and alice is not in render");
    assert_eq!(step(&c), Some("access"));
    assert!(remedy(&c).contains("sudo usermod -aG render alice"), "{}", remedy(&c));
    let h = Host::halo().accel_mode("0600", 0).with(|f| f.users.ok_mut().uid = Some(0));
    expect(&h, "accel.node", Pass, "alice is root");
}

#[test]
fn accel_node_without_a_node_or_a_user() {
    let c =
        expect(&Host::halo().with(|f| f.nodes.ok_mut().accel.clear()), "accel.node", Fail, "no /dev/accel/accel* node");
    assert!(c.suspects.contains(&"driver.bound"));
    expect(&Host::halo().with(|f| f.users.ok_mut().exists = false), "accel.node", Warn, "user alice does not exist");
    expect(&Host::halo().probe_error("pci", "EIO"), "accel.node", Skip, "no NPU");
}

#[test]
fn limits_memlock() {
    expect(&Host::halo(), "limits.memlock", Pass, "unlimited for login sessions and user@.service and lemond.service");
    let c = expect(
        &Host::halo().memlock_limits(&[]),
        "limits.memlock",
        Fail,
        "login sessions get memlock soft not set (Fedora's default)",
    );
    assert_eq!(step(&c), Some("limits"));
    assert!(
        remedy(&c).contains("user@.service.d/90-npu-setup-memlock.conf"),
        "Fedora needs the drop-in too: {}",
        remedy(&c)
    );
    let h = Host::halo().memlock_limits(&[("*", "soft", "unlimited"), ("*", "hard", "65536")]);
    expect(&h, "limits.memlock", Fail, "soft unlimited / hard 65536 KiB");
    // `-` sets both; a group domain applies to its members; later lines win.
    let h = Host::halo().memlock_limits(&[("@wheel", "-", "unlimited")]);
    expect(&h, "limits.memlock", Pass, "unlimited for login sessions");
    let h = Host::halo().memlock_limits(&[("*", "-", "unlimited"), ("alice", "soft", "8192")]);
    expect(&h, "limits.memlock", Fail, "soft 8192 KiB / hard unlimited");
}

#[test]
fn limits_memlock_needs_the_user_service_dropin_only_where_the_distro_does() {
    let h = Host::halo().with(|f| f.memlock.ok_mut().user_service.clear());
    let c = expect(&h, "limits.memlock", Fail, "no user@.service drop-in sets LimitMEMLOCK=infinity");
    assert_eq!(step(&c), Some("limits"));
    let h = Host::halo().os("ubuntu", "24.04").with(|f| f.memlock.ok_mut().user_service.clear());
    expect(&h, "limits.memlock", Pass, "unlimited for login sessions and lemond.service");
}

#[test]
fn limits_memlock_judges_the_lemonade_unit_by_its_mechanism() {
    // The stock unit from 10.0.1: CAP_SYS_RESOURCE, no LimitMEMLOCK (flm raises its own).
    let stock = Host::halo().lemonade_unit(|u| u.limit_memlock = None);
    let c = expect(&stock, "limits.memlock", Pass, "unlimited for login sessions and user@.service and lemond.service");
    assert!(c.evidence["lemonade_unit_memlock"].as_str().unwrap().starts_with("AmbientCapabilities=CAP_SYS_RESOURCE"));
    // Neither.
    let c = expect(
        &stock.clone().lemonade_unit(|u| u.ambient_capabilities.clear()),
        "limits.memlock",
        Fail,
        "lemond.service: LimitMEMLOCK=unset and no AmbientCapabilities=CAP_SYS_RESOURCE",
    );
    assert_eq!(step(&c), Some("lemonade-service"));
    let h = stock.clone().lemonade_unit(|u| u.limit_memlock = Some("8M".into()));
    expect(
        &h.lemonade_unit(|u| u.ambient_capabilities = vec!["~CAP_SYS_RESOURCE".into()]),
        "limits.memlock",
        Fail,
        "LimitMEMLOCK=8M",
    );
    // 10.0.0 did not hand the capability on to flm: only LimitMEMLOCK works there.
    let old = stock.clone().package("lemonade-server", Some("10.0.0"));
    expect(&old, "limits.memlock", Fail, "Lemonade 10.0.0 does not hand it on to flm");
    expect(&old.lemonade_unit(|u| u.limit_memlock = Some("infinity".into())), "limits.memlock", Pass, "lemond.service");
}

#[test]
fn limits_memlock_remedy_names_the_file_the_limits_step_writes() {
    let c = expect(&Host::halo().memlock_limits(&[]), "limits.memlock", Fail, "login sessions");
    assert!(remedy(&c).contains("/etc/security/limits.d/99-npu-setup-memlock.conf"), "{}", remedy(&c));
}

#[test]
fn limits_memlock_names_the_hosts_distro() {
    // Never "on Fedora" for another distro: the host's own name (a derivative with its base).
    let ubuntu = Host::halo().os("ubuntu", "24.04").memlock_limits(&[]);
    let c = expect(&ubuntu, "limits.memlock", Fail, "soft not set (Ubuntu's default)");
    assert!(!c.summary.contains("Fedora") && !remedy(&c).contains("Fedora"), "{c:?}");
    let mint = Host::halo()
        .os_release("Linux Mint 22.2", "linuxmint", &["ubuntu", "debian"], Some("22.2"), Some("noble"))
        .memlock_limits(&[]);
    expect(&mint, "limits.memlock", Fail, "not set (Linux Mint (Ubuntu base)'s default)");
    let nobara = Host::halo()
        .os_release("Nobara Linux 44", "nobara", &["rhel", "centos", "fedora"], Some("44"), None)
        .with(|f| f.memlock.ok_mut().user_service.clear());
    expect(&nobara, "limits.memlock", Fail, "Nobara (Fedora base)'s systemd user sessions keep a low ulimit -l");
}

/// NixOS: pam_limits reads the store file it names with conf=, never limits.d
/// (https://github.com/NixOS/nixpkgs/blob/408b8b5725c3e6fff75aef772da248d3e95ff414/nixos/modules/security/pam.nix).
#[test]
fn limits_memlock_reads_the_file_pam_names_with_conf() {
    use crate::host::memlock::{MemlockLine, PamLimits};
    let conf = "/nix/store/x-limits.conf";
    let nixos = |value: &str| {
        let value = value.to_string();
        Host::halo().memlock_limits(&[]).with(move |f| {
            let m = f.memlock.ok_mut();
            for service in ["sshd", "login"] {
                m.pam.push(PamLimits { service: service.into(), conf: Some(conf.into()), conf_exists: true });
            }
            m.conf_limits = vec![MemlockLine {
                file: conf.into(),
                domain: "@wheel".into(),
                kind: "-".into(),
                value: value.clone(),
            }];
        })
    };
    let c = expect(&nixos("unlimited"), "limits.memlock", Pass, "(/nix/store/x-limits.conf, pam_limits conf=)");
    assert_eq!(c.evidence["pam_service"], "login");
    let c = expect(&nixos("65536"), "limits.memlock", Fail, "from /nix/store/x-limits.conf (pam_limits conf= of login");
    assert!(remedy(&c).contains("security.pam.loginLimits"), "{}", remedy(&c));
    // limits.d alone does not help once PAM names a conf= file.
    let h = nixos("65536").memlock_limits(&[("*", "-", "unlimited")]);
    expect(&h, "limits.memlock", Fail, "limits.d is not read");
}

/// A node passed into a container with the host's group id: a Proxmox VE host's render 993
/// in an Ubuntu 26.04 guest whose render is 991 (Hal0ai/hal0#2213) is an id no group of the
/// guest has, and "add the user to render" cannot help; the overflow id 65534 is a group no
/// user namespace maps (lemonade#2746). A node whose id another group of this system has is
/// the ordinary case.
#[test]
fn accel_node_passed_in_with_a_foreign_group_id() {
    let guest = |node_gid: u32| {
        Host::halo().accel_mode("0660", node_gid).user_groups(&[("alice", 1000), ("render", 991)]).with(|f| {
            f.users.ok_mut().all_groups =
                vec![("alice".into(), 1000), ("render".into(), 991), ("clock".into(), 992), ("nogroup".into(), 65534)]
        })
    };
    let c = expect(&guest(993), "accel.node", Fail, "no group of this system has id 993");
    let r = remedy(&c);
    assert!(r.contains("gid=991") && r.contains("--group-add 993"), "{r}");
    assert!(r.contains("sudo groupadd -g 993 accel-host") && !r.contains("usermod -aG render"), "{r}");
    assert_eq!(step(&c), None);
    let c = expect(&guest(65534), "accel.node", Fail, "not mapped into this user namespace");
    assert!(remedy(&c).contains("lxc.idmap") && !remedy(&c).contains("usermod"), "{}", remedy(&c));
    let c = expect(&guest(992), "accel.node", Fail, "alice is not in clock");
    assert!(remedy(&c).contains("sudo usermod -aG clock alice"), "{}", remedy(&c));
    expect(&guest(991), "accel.node", Pass, "alice is in render");
}

/// In a container the kernel, its module, the firmware and the boot are the host's: the
/// checks that judge them are skipped saying so; what the guest sees (the bound NPU, its
/// node, its own limits) is still judged.
#[test]
fn a_container_leaves_the_hosts_layers_to_the_host() {
    let h = Host::halo().with(|f| f.container = Some("lxc".into()));
    for id in crate::knowledge::access::HOST_CHECKS {
        expect(&h, id, Skip, "not judged in a container (lxc)");
    }
    expect(&h, "driver.bound", Pass, "bound to amdxdna");
    expect(&h, "accel.node", Pass, "world read-write");
    expect(&Host::halo(), "driver.module", Pass, "");
}
