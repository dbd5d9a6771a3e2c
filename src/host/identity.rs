//! What identifies this host and its people (host names, users, machine ids, DMI serials,
//! MACs), read through the root for the redactor of `dev capture-fixture` and `doctor --bundle`.

use crate::parse::passwd::parse_passwd;
use crate::redact::Identifiers;
use crate::root::{Root, RootMode};

/// Where the kernel exports DMI (SMBIOS) identity strings.
const DMI_DIR: &str = "sys/class/dmi/id";

/// Collects the identifiers of the host under `root`: host names from `etc/hostname`,
/// `proc/sys/kernel/hostname`, `etc/machine-info` and (live) `uname -n`; regular users
/// (uid 1000-59999) from `etc/passwd` in uid order, with their home directories' names,
/// plus the target user and (live) the invoking user when they are not system accounts;
/// machine and boot ids; DMI serials, product UUID and asset tags; interface MACs.
/// Unreadable files are skipped: a missing identifier only means nothing to hide.
pub fn identifiers(root: &Root, target_user: Option<&str>) -> Identifiers {
    let read = |rel: &str| root.read_optional(rel).ok().flatten().unwrap_or_default();
    let first_line =
        |rel: &str| read(rel).lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string);
    let mut ids = Identifiers::default();
    ids.hostnames.extend(["etc/hostname", "proc/sys/kernel/hostname"].iter().filter_map(|r| first_line(r)));
    let machine_info = crate::parse::shellvars::parse_env_lenient(&read("etc/machine-info"));
    ids.hostnames.extend(machine_info.into_iter().filter(|(k, _)| k == "PRETTY_HOSTNAME").map(|(_, v)| v));
    let live = root.mode() == RootMode::Live;
    if live && let Ok(u) = nix::sys::utsname::uname() {
        ids.hostnames.push(u.nodename().to_string_lossy().into_owned());
    }

    let mut passwd = parse_passwd(&read("etc/passwd"));
    passwd.sort_by(|a, b| a.uid.cmp(&b.uid).then_with(|| a.name.cmp(&b.name)));
    for p in passwd.iter().filter(|p| (1000..60000).contains(&p.uid)) {
        ids.users.push(p.name.clone());
        let home = p.home.trim_end_matches('/');
        if let Some((dir, base)) = home.rsplit_once('/')
            && matches!(dir, "/home" | "/var/home" | "/Users")
            && base != p.name
            && !base.is_empty()
        {
            ids.aliases.push((base.to_string(), p.name.clone()));
        }
    }
    // Names the tool acts for that passwd may not list (LDAP/SSSD users); a system
    // account (uid < 1000) is no person, and replacing e.g. `lemonade` would break the unit.
    let mut others: Vec<String> = target_user.map(str::to_string).into_iter().collect();
    if live {
        others.extend(["SUDO_USER", "USER", "LOGNAME"].iter().filter_map(|k| std::env::var(k).ok()));
    }
    for u in others {
        if !u.is_empty() && u != "root" && !passwd.iter().any(|p| p.name == u) && !ids.users.contains(&u) {
            ids.users.push(u);
        }
    }

    for rel in ["etc/machine-id", "var/lib/dbus/machine-id", "proc/sys/kernel/random/boot_id"] {
        if let Some(id) = first_line(rel) {
            ids.machine_ids.push(id.replace('-', ""));
        }
    }
    // drivers/firmware/dmi-id.c: product_serial, board_serial, chassis_serial,
    // product_uuid, chassis_asset_tag (board_asset_tag too); root-only on a live host.
    let dmi_ids = |a: &String| ["serial", "uuid", "asset_tag"].iter().any(|k| a.contains(k));
    for attr in root.list_dir(DMI_DIR).unwrap_or_default().iter().filter(|a| dmi_ids(a)) {
        ids.serials.extend(first_line(&format!("{DMI_DIR}/{attr}")));
    }
    for iface in root.list_dir("sys/class/net").unwrap_or_default() {
        ids.macs.extend(first_line(&format!("sys/class/net/{iface}/address")));
    }
    let os = read("etc/os-release") + "\n" + &read("usr/lib/os-release");
    ids.generic = crate::parse::shellvars::parse_env_lenient(&os)
        .into_iter()
        .filter(|(k, _)| k == "ID" || k == "ID_LIKE")
        .flat_map(|(_, v)| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_come_from_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let w = |rel: &str, text: &str| crate::host::testkit::write_file(dir.path(), rel, text);
        w("etc/hostname", "strix-lab-07.corp.example.com\n");
        w(
            "etc/passwd",
            "root:x:0:0::/root:/bin/sh\nzed:x:1001:1001::/home/zed:/bin/sh\nann:x:1000:1000::/var/home/a:/bin/sh\n",
        );
        w("etc/machine-id", "200eb11b39b7df6bcbbdd3b41e27fd0b\n");
        w("proc/sys/kernel/random/boot_id", "3bd3c4f4-0000-1111-2222-333344445555\n");
        w("sys/class/dmi/id/product_serial", "PF4ABC1234\n");
        w("sys/class/dmi/id/chassis_asset_tag", "LAB-0042\n");
        w("sys/class/dmi/id/product_name", "ROG Flow Z13\n");
        w("sys/class/net/enp3s0/address", "3c:7c:3f:1a:2b:4d\n");
        w("etc/os-release", "ID=fedora\n");
        let root = crate::root::Root::open(dir.path()).unwrap();
        let ids = identifiers(&root, Some("carol"));
        assert_eq!(ids.hostnames, vec!["strix-lab-07.corp.example.com"]);
        assert_eq!(ids.users, vec!["ann", "zed", "carol"]);
        assert_eq!(ids.aliases, vec![("a".to_string(), "ann".to_string())]);
        assert_eq!(ids.machine_ids, vec!["200eb11b39b7df6bcbbdd3b41e27fd0b", "3bd3c4f4000011112222333344445555"]);
        assert_eq!(ids.serials, vec!["LAB-0042", "PF4ABC1234"]);
        assert_eq!(ids.macs, vec!["3c:7c:3f:1a:2b:4d"]);
        assert_eq!(ids.generic, vec!["fedora"]);
    }
}
