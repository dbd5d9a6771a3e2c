//! The fuzz targets: one per parser of `src/parse/` and editor of `src/edit/` (plus the
//! redactor a support bundle's text goes through), each a function of arbitrary bytes that
//! must not panic and must keep the property it states. Shared by the cargo-fuzz targets in
//! `fuzz/fuzz_targets/` (nightly, libFuzzer) and the stable seeded loop every CI run makes
//! (`tests/cli/fuzz.rs`), so both exercise the same code.

use npu_setup::edit;
use npu_setup::edit::kargs::KargEdit;
use npu_setup::parse;

/// A target: arbitrary bytes in, a panic on a broken property.
pub type Target = fn(&[u8]);

/// Every target by name, in a fixed order.
pub const TARGETS: &[(&str, Target)] = &[
    ("parse_bls", parse_bls),
    ("parse_cmdline", parse_cmdline),
    ("parse_dkms", parse_dkms),
    ("parse_flm", parse_flm),
    ("parse_kernel_log", parse_kernel_log),
    ("parse_ldconfig", parse_ldconfig),
    ("parse_limits", parse_limits),
    ("parse_modinfo", parse_modinfo),
    ("parse_mokutil", parse_mokutil),
    ("parse_packages", parse_packages),
    ("parse_passwd", parse_passwd),
    ("parse_secret", parse_secret),
    ("parse_shellvars", parse_shellvars),
    ("parse_systemctl", parse_systemctl),
    ("parse_version", parse_version),
    ("parse_yaml", parse_yaml),
    ("edit_bls", edit_bls),
    ("edit_bytes", edit_bytes),
    ("edit_grub_default", edit_grub_default),
    ("edit_json", edit_json),
    ("edit_kargs", edit_kargs),
    ("edit_kernel_cmdline", edit_kernel_cmdline),
    ("edit_managed", edit_managed),
    ("redact", redact),
];

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// The edit install makes (the GPU tuning that breaks the NPU off, a wanted argument on).
fn karg_edit() -> KargEdit {
    KargEdit { remove: vec!["amd_iommu=off".into(), "amdgpu.fake".into()], add: vec!["iommu=pt".into()] }
}

/// An editor's result: `changed` says whether the text changed, and editing the result
/// again changes nothing (install's second run plans nothing).
fn settled(input: &str, out: &edit::kargs::EditResult, again: impl Fn(&str) -> Option<edit::kargs::EditResult>) {
    assert_eq!(out.changed, out.text != input, "`changed` disagrees with the text");
    if let Some(second) = again(&out.text) {
        assert!(!second.changed, "a second edit changed {:?} into {:?}", out.text, second.text);
    }
}

pub fn parse_bls(data: &[u8]) {
    let s = text(data);
    let _ = parse::bls::parse_bls(&s);
    let _ = parse::bls::parse_grub_cfg_linux_lines(&s);
}

pub fn parse_cmdline(data: &[u8]) {
    let _ = parse::cmdline::parse_cmdline(&text(data));
}

pub fn parse_dkms(data: &[u8]) {
    let _ = parse::dkms::parse_dkms_status(&text(data));
}

pub fn parse_flm(data: &[u8]) {
    let s = text(data);
    let _ = parse::flm::parse_flm_validate(&s);
    let _ = parse::flm::parse_flm_version(&s);
}

pub fn parse_kernel_log(data: &[u8]) {
    let _ = parse::kernel_log::normalize_kernel_log(&text(data));
}

pub fn parse_ldconfig(data: &[u8]) {
    let s = text(data);
    let _ = parse::ldconfig::parse_ldconfig_p(&s);
    let _ = parse::ldconfig::parse_ld_so_conf(&s);
}

pub fn parse_limits(data: &[u8]) {
    let s = text(data);
    let _ = parse::limits::parse_limits_conf(&s);
    for line in s.lines().take(64) {
        let _ = parse::limits::parse_memlock_value(line);
        let _ = parse::limits::parse_systemd_limit(line);
    }
}

pub fn parse_modinfo(data: &[u8]) {
    let _ = parse::modinfo::parse_modinfo(&text(data));
}

pub fn parse_mokutil(data: &[u8]) {
    let s = text(data);
    let _ = parse::mokutil::parse_sb_state(&s);
    let _ = parse::mokutil::normalize_hex(&s);
    let _ = parse::mokutil::parse_list_enrolled(&s);
    let _ = parse::mokutil::efivar_secure_boot(data);
}

pub fn parse_packages(data: &[u8]) {
    let s = text(data);
    let (out, err) = s.split_once('\0').unwrap_or((&s, ""));
    let asked = ["xrt", "xrt-plugin-amdxdna", "fastflowlm", "lemonade-server"];
    let _ = parse::packages::parse_rpm_q(out, &asked);
    let _ = parse::packages::parse_dpkg_query(out, err, &asked);
    let _ = parse::packages::parse_pacman_q(out, err, &asked);
}

pub fn parse_passwd(data: &[u8]) {
    let s = text(data);
    let _ = parse::passwd::parse_passwd(&s);
    let _ = parse::passwd::parse_group(&s);
}

pub fn parse_secret(data: &[u8]) {
    let _ = parse::secret::is_secret_name(&text(data));
}

pub fn parse_shellvars(data: &[u8]) {
    let s = text(data);
    if let Ok(vars) = parse::shellvars::parse_shell_vars(&s) {
        for (_, v) in vars.iter().take(16) {
            let _ = parse::shellvars::expand_vars(v, &vars);
        }
    }
    let _ = parse::shellvars::parse_shell_assignments(&s);
    let _ = parse::shellvars::parse_env_lenient(&s);
}

pub fn parse_systemctl(data: &[u8]) {
    let s = text(data);
    for (_, v) in parse::systemctl::parse_show(&s) {
        let _ = parse::systemctl::parse_environment(&v);
        let _ = parse::systemctl::parse_exec_start_argv(&v);
        let _ = parse::systemctl::parse_environment_files(&v);
    }
    let _ = parse::systemctl::parse_unit_file(&s);
}

pub fn parse_version(data: &[u8]) {
    let s = text(data);
    for line in s.lines().take(64) {
        let _ = parse::version::parse_kernel_release(line);
        let _ = parse::version::parse_fw_version(line);
        let _ = parse::version::fw_version_from_file_name(line);
        let _ = parse::version::parse_dotted(line);
    }
    let _ = parse::version::fw_version_from_blob(data);
}

pub fn parse_yaml(data: &[u8]) {
    let s = text(data);
    let _ = parse::yaml::check_depth(&s);
    let _ = parse::yaml::from_str::<serde_json::Value>(&s);
    let _ = parse::yaml::from_str::<npu_setup::root::FixtureMeta>(&s);
}

pub fn edit_bls(data: &[u8]) {
    let s = edit::bytes::decode(data);
    let e = karg_edit();
    let out = edit::bls::edit_bls_options(&s, &e);
    settled(&s, &out, |t| Some(edit::bls::edit_bls_options(t, &e)));
}

pub fn edit_bytes(data: &[u8]) {
    assert!(edit::bytes::round_trips(data), "bytes lost in the text view");
}

pub fn edit_grub_default(data: &[u8]) {
    let s = edit::bytes::decode(data);
    let e = karg_edit();
    if let Ok(out) = edit::grub_default::edit_grub_default(&s, &e) {
        settled(&s, &out, |t| edit::grub_default::edit_grub_default(t, &e).ok());
    }
}

pub fn edit_json(data: &[u8]) {
    let s = text(data);
    let value = serde_json::json!("/usr/bin/flm");
    if let Ok(out) = edit::json::set_json(&s, &["flm", "npu_bin"], &value) {
        assert_eq!(out.changed, out.text != s, "`changed` disagrees with the text");
        let v: serde_json::Value = serde_json::from_str(&out.text).expect("the edit gives JSON");
        assert_eq!(v["flm"]["npu_bin"], value, "the edit did not set the value");
        let again = edit::json::set_json(&out.text, &["flm", "npu_bin"], &value).expect("an edited file edits again");
        assert!(!again.changed, "a second edit changed the file");
    }
}

pub fn edit_kargs(data: &[u8]) {
    let s = edit::bytes::decode(data);
    let e = karg_edit();
    let out = edit::kargs::edit_cmdline(&s, &e);
    settled(&s, &out, |t| Some(edit::kargs::edit_cmdline(t, &e)));
}

pub fn edit_kernel_cmdline(data: &[u8]) {
    let s = edit::bytes::decode(data);
    let e = karg_edit();
    let out = edit::kernel_cmdline::edit_kernel_cmdline(&s, &e);
    settled(&s, &out, |t| Some(edit::kernel_cmdline::edit_kernel_cmdline(t, &e)));
}

pub fn edit_managed(data: &[u8]) {
    let s = text(data);
    let file = edit::managed::managed_file("#", &s);
    assert!(edit::managed::is_managed(&file), "a managed file is not recognised");
    let _ = edit::managed::is_managed(&s);
}

pub fn redact(data: &[u8]) {
    let r = npu_setup::redact::Redactor::default();
    let once = r.text(&text(data));
    let _ = r.text(&once);
}
