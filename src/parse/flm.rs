//! FastFlowLM `flm validate [--json]` and `flm version [--json]` output.
//!
//! Source of the format:
//! <https://github.com/ROCm/FastFlowLM/blob/8b8399c1f259d31bba2c42c2e3038c2b69856b89/src/src/main.cpp>
//! (`sanity_check_npu_stack`): human lines are `[Tag] message`; `--json` emits
//! `{"object":"npu_stack_validation",…,"devices":[{"device":…,"fw_major":…,…}],…}`, possibly
//! preceded by `[FLM]  Using custom model list path: …` (lemonade#1315). `flm version
//! --json` → `{ "version": "0.9.43"
//! }` (<https://github.com/ROCm/FastFlowLM/blob/8b8399c1f259d31bba2c42c2e3038c2b69856b89/src/include/utils/vm_args.hpp>).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One NPU device as reported by `flm validate`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FlmDevice {
    /// Device node, e.g. `/dev/accel/accel0` (empty if the human output never named it).
    pub device: String,
    /// Firmware version `a.b.c.d`.
    pub fw_version: Option<String>,
    /// FLM's verdict on the firmware (needs ≥ 1.1).
    pub fw_ok: Option<bool>,
    /// AIE column count (FLM needs ≥ 8).
    pub cols: Option<u32>,
    /// FLM >= 1.0.9 could not open the node because it was busy (`"busy": true`;
    /// <https://github.com/ROCm/FastFlowLM/releases/tag/v1.0.9>).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busy: Option<bool>,
}

/// Parsed `flm validate` result (JSON or human form).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FlmValidate {
    /// Kernel release FLM saw.
    pub kernel: Option<String>,
    /// Kernel ≥ 6.17 per FLM.
    pub kernel_ok: Option<bool>,
    /// Whether FLM could open any `/dev/accel/accelN`.
    pub amd_device_found: Option<bool>,
    /// DRM driver version (`0.6`, `1.0`, …).
    pub drm_version: Option<String>,
    /// Devices FLM inspected.
    pub devices: Vec<FlmDevice>,
    /// All devices' firmware acceptable.
    pub all_fw_ok: Option<bool>,
    /// All devices have ≥ 8 columns.
    pub enough_cols: Option<bool>,
    /// Memlock limit text (`infinity`, `8MB`, …).
    pub memlock_limit: Option<String>,
    /// Memlock acceptable.
    pub memlock_ok: Option<bool>,
    /// FLM's overall verdict (human form: inferred as no errors and a device present).
    pub ready: Option<bool>,
    /// `[ERROR]` messages (human form) or `error`/`errors` fields (JSON).
    pub errors: Vec<String>,
    /// A top-level `"busy": true` (where FLM 1.0.9 puts the busy mark is not documented;
    /// both places are read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busy: Option<bool>,
}

impl FlmValidate {
    /// Some node (or the result as a whole) was reported busy.
    pub fn any_busy(&self) -> bool {
        self.busy == Some(true) || self.devices.iter().any(|d| d.busy == Some(true))
    }
}

fn short(s: &str) -> String {
    s.chars().take(80).collect()
}

fn json_from(s: &str) -> Option<Value> {
    let mut offset = 0;
    for line in s.split_inclusive('\n') {
        if line.trim_start().starts_with('{') {
            let text = &s[offset..];
            return serde_json::Deserializer::from_str(text).into_iter::<Value>().next()?.ok().filter(Value::is_object);
        }
        offset += line.len();
    }
    None
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn from_json(v: &Value) -> FlmValidate {
    let b = |k: &str| v.get(k).and_then(Value::as_bool);
    let t = |k: &str| v.get(k).and_then(as_text);
    let devices = v
        .get("devices")
        .and_then(Value::as_array)
        .map(|arr| {
            arr.iter()
                .map(|d| {
                    let parts: Vec<String> = ["fw_major", "fw_minor", "fw_patch", "fw_build"]
                        .iter()
                        .map_while(|k| d.get(*k).and_then(Value::as_u64).map(|n| n.to_string()))
                        .collect();
                    FlmDevice {
                        device: d.get("device").and_then(as_text).unwrap_or_default(),
                        fw_version: (parts.len() >= 2).then(|| parts.join(".")),
                        fw_ok: d.get("fw_ok").and_then(Value::as_bool),
                        cols: d.get("cols").and_then(Value::as_u64).and_then(|c| u32::try_from(c).ok()),
                        busy: d.get("busy").and_then(Value::as_bool),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let mut errors = Vec::new();
    for key in ["error", "errors"] {
        match v.get(key) {
            Some(Value::String(s)) => errors.push(s.clone()),
            Some(Value::Array(a)) => errors.extend(a.iter().filter_map(as_text)),
            _ => {}
        }
    }
    FlmValidate {
        kernel: t("kernel"),
        kernel_ok: b("kernel_ok"),
        amd_device_found: b("amd_device_found"),
        drm_version: t("drm_version"),
        devices,
        all_fw_ok: b("all_fw_ok"),
        enough_cols: b("enough_cols"),
        memlock_limit: t("memlock_limit"),
        memlock_ok: b("memlock_ok"),
        ready: b("ready"),
        errors,
        busy: b("busy"),
    }
}

/// Split `[Tag]  message` into (tag, message).
fn tagged(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim().strip_prefix('[')?;
    let (tag, msg) = rest.split_once(']')?;
    Some((tag, msg.trim()))
}

fn device_mut<'a>(devs: &'a mut Vec<FlmDevice>, path: &str) -> &'a mut FlmDevice {
    let i = match devs.iter().position(|d| d.device == path) {
        Some(i) => i,
        None => {
            devs.push(FlmDevice { device: path.to_string(), ..Default::default() });
            devs.len() - 1
        }
    };
    &mut devs[i]
}

fn from_human(s: &str) -> Option<FlmValidate> {
    let mut r = FlmValidate::default();
    let mut recognised = false;
    let mut no_device = false;
    let mut fw_bad: Vec<String> = Vec::new();
    let mut cols_bad = false;
    let mut last_dev: Option<String> = None;
    for line in s.lines() {
        let Some((tag, msg)) = tagged(line) else {
            continue;
        };
        match tag {
            "ERROR" => {
                recognised = true;
                r.errors.push(msg.to_string());
                if msg.to_ascii_lowercase().contains("busy") {
                    // FLM >= 1.0.9 names a busy node ("device busy"); the exact wording is
                    // not documented, so any error naming a node and "busy" counts.
                    match msg.split_whitespace().find(|w| w.starts_with("/dev/accel/")) {
                        Some(dev) => {
                            device_mut(&mut r.devices, dev.trim_end_matches([':', ',', '.', ')'])).busy = Some(true)
                        }
                        None => r.busy = Some(true),
                    }
                } else if msg.starts_with("Kernel version incompatible") {
                    r.kernel_ok = Some(false);
                } else if msg.starts_with("No NPU device found") {
                    no_device = true;
                } else if let Some(rest) = msg.strip_prefix("NPU firmware version on ") {
                    let dev = rest.split_whitespace().next().unwrap_or("");
                    device_mut(&mut r.devices, dev);
                    fw_bad.push(dev.to_string());
                } else if let Some(rest) = msg.strip_prefix("NPU ") {
                    // `NPU /dev/accel/accel0 does not have enough columns (4 < 8)`
                    if let Some((dev, tail)) = rest.split_once(" does not have enough columns") {
                        cols_bad = true;
                        let n = tail
                            .trim_start_matches([' ', '('])
                            .split(|c: char| !c.is_ascii_digit())
                            .next()
                            .and_then(|n| n.parse().ok());
                        let d = device_mut(&mut r.devices, dev.trim());
                        if n.is_some() {
                            d.cols = n;
                        }
                    }
                } else if let Some(rest) = msg.strip_prefix("amdxdna version ") {
                    // FLM folds the DRM check into kernel_ok (the JSON says kernel_ok false).
                    r.drm_version = rest.split_whitespace().next().map(str::to_string);
                    r.kernel_ok = Some(false);
                } else if let Some(rest) = msg.strip_prefix("Memlock limit is too low") {
                    r.memlock_ok = Some(false);
                    let inner = rest.trim().trim_start_matches('(');
                    if let Some((lim, _)) = inner.split_once(')') {
                        r.memlock_limit = Some(lim.to_string());
                    }
                }
            }
            "Linux" => {
                if let Some(k) = msg.strip_prefix("Kernel:") {
                    recognised = true;
                    r.kernel = Some(k.trim().to_string());
                } else if let Some(v) = msg.strip_prefix("NPU FW Version:") {
                    recognised = true;
                    let dev = last_dev.clone().unwrap_or_default();
                    device_mut(&mut r.devices, &dev).fw_version = Some(v.trim().to_string());
                } else if let Some(rest) = msg.strip_prefix("NPU:") {
                    recognised = true;
                    let rest = rest.trim();
                    let (dev, cols) = match rest.split_once(" with ") {
                        Some((d, c)) => (d.trim(), c.split_whitespace().next().and_then(|n| n.parse().ok())),
                        None => (rest, None),
                    };
                    let d = device_mut(&mut r.devices, dev);
                    if cols.is_some() {
                        d.cols = cols;
                    }
                    last_dev = Some(dev.to_string());
                } else if let Some(v) = msg.strip_prefix("amdxdna version:") {
                    recognised = true;
                    r.drm_version = Some(v.trim().to_string());
                } else if let Some(v) = msg.strip_prefix("Memlock Limit:") {
                    recognised = true;
                    let v = v.trim();
                    r.memlock_limit = Some(v.strip_prefix("set to ").unwrap_or(v).to_string());
                    r.memlock_ok.get_or_insert(true);
                }
            }
            _ => {}
        }
    }
    if !recognised {
        return None;
    }
    if r.kernel.is_some() {
        r.kernel_ok.get_or_insert(true);
    }
    for d in &mut r.devices {
        if fw_bad.contains(&d.device) {
            d.fw_ok = Some(false);
        } else if d.fw_version.is_some() {
            d.fw_ok = Some(true);
        }
    }
    let has_dev = !r.devices.iter().all(|d| d.busy == Some(true)) && !r.devices.is_empty();
    // A failed kernel check returns before the device scan: nothing was learnt about devices.
    let stopped_at_kernel = r.kernel_ok == Some(false) && r.devices.is_empty() && !no_device;
    r.amd_device_found = if stopped_at_kernel { None } else { Some(has_dev && !no_device) };
    if has_dev {
        r.all_fw_ok = if r.devices.iter().any(|d| d.fw_ok == Some(false)) {
            Some(false)
        } else if r.devices.iter().all(|d| d.fw_ok == Some(true)) {
            Some(true)
        } else {
            None
        };
        r.enough_cols = if cols_bad || r.devices.iter().any(|d| d.cols.is_some_and(|c| c < 8)) {
            Some(false)
        } else if r.devices.iter().all(|d| d.cols.is_some()) {
            Some(true)
        } else {
            None
        };
    }
    r.ready = Some(r.errors.is_empty() && has_dev);
    Some(r)
}

/// Parse `flm validate` output, JSON (`--json`) or human form. The JSON object is found on
/// the first line starting with `{`. Human form infers `ready` = no `[ERROR]` lines and a
/// device present. Errors with a short reason quoting the first 80 characters otherwise.
pub fn parse_flm_validate(s: &str) -> Result<FlmValidate, String> {
    if let Some(v) = json_from(s) {
        return Ok(from_json(&v));
    }
    from_human(s).ok_or_else(|| format!("unrecognised `flm validate` output: {:?}", short(s)))
}

/// Parse `flm version [--json]`: `{"version":"0.9.35"}`, `FLM v0.9.35` or `0.9.35`.
/// Returns the version without a leading `v`.
pub fn parse_flm_version(s: &str) -> Option<String> {
    if let Some(v) = json_from(s) {
        return v.get("version").and_then(as_text).map(|v| v.trim_start_matches(['v', 'V']).to_string());
    }
    s.split_whitespace().find_map(|tok| {
        let tok = tok.trim_start_matches(['v', 'V']).trim_end_matches(|c: char| !c.is_ascii_digit());
        let ok = tok.contains('.')
            && tok.starts_with(|c: char| c.is_ascii_digit())
            && tok.chars().all(|c| c.is_ascii_digit() || c == '.');
        ok.then(|| tok.to_string())
    })
}

/// What `flm list --json` printed, read the way Lemonade reads it: the whole stdout must be
/// one JSON document `{"models": [...]}` (Lemonade parses stdout with `2>/dev/null`,
/// <https://github.com/lemonade-sdk/lemonade/issues/2782>; the shape:
/// <https://github.com/ROCm/FastFlowLM/blob/8b8399c1f259d31bba2c42c2e3038c2b69856b89/src/src/main.cpp>).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FlmList {
    /// Models listed (when stdout parsed).
    #[serde(default)]
    pub models: Option<usize>,
    /// Of those, installed.
    #[serde(default)]
    pub installed: Option<usize>,
    /// A line printed on stdout before the JSON (`[FLM]  Fetching models from: …`): the JSON
    /// is there, but a strict parser fails on it.
    #[serde(default)]
    pub leading_text: Option<String>,
    /// FLM's own error line (`Error: [json.exception.parse_error.101] …`), when no JSON came.
    #[serde(default)]
    pub error: Option<String>,
}

/// Parse `flm list --json` output (stdout, then stderr for the error line).
pub fn parse_flm_list(stdout: &str, stderr: &str) -> FlmList {
    let mut out = FlmList::default();
    let strict = serde_json::from_str::<serde_json::Value>(stdout.trim()).ok();
    let lenient = strict.clone().or_else(|| {
        let start = stdout.find('{')?;
        serde_json::from_str::<serde_json::Value>(stdout[start..].trim()).ok()
    });
    if let Some(v) = lenient.as_ref().and_then(|v| v.get("models")).and_then(|m| m.as_array()) {
        out.models = Some(v.len());
        out.installed = Some(v.iter().filter(|m| m["installed"].as_bool() == Some(true)).count());
        if strict.is_none() {
            out.leading_text = stdout.lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_string);
        }
        return out;
    }
    out.error = stdout
        .lines()
        .chain(stderr.lines())
        .map(str::trim)
        .find(|l| l.starts_with("Error") || l.starts_with("[ERROR]") || l.contains("exception"))
        .or_else(|| stdout.lines().chain(stderr.lines()).map(str::trim).rfind(|l| !l.is_empty()))
        .map(str::to_string);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flm_list_strict_banner_and_error() {
        let json =
            r#"{"models": [{"name": "qwen3:4b", "installed": true}, {"name": "gemma3:1b", "installed": false}]}"#;
        let ok = parse_flm_list(json, "");
        assert_eq!((ok.models, ok.installed, ok.leading_text, ok.error), (Some(2), Some(1), None, None));
        // lemonade#2782: a stdout banner before the JSON.
        let banner = parse_flm_list(
            &format!("[FLM]  Fetching models from: /opt/fastflowlm/share/flm/model_list.json\n{json}"),
            "",
        );
        assert_eq!(banner.models, Some(2));
        assert_eq!(
            banner.leading_text.as_deref(),
            Some("[FLM]  Fetching models from: /opt/fastflowlm/share/flm/model_list.json")
        );
        // FastFlowLM#576: exit 1 with a parse error of FLM's own.
        let e = "Error: [json.exception.parse_error.101] parse error at line 1, column 1: attempting to parse an empty input; check that your input string or stream contains the expected JSON";
        let err = parse_flm_list(&format!("{e}\n"), "");
        assert_eq!((err.models, err.error.as_deref()), (None, Some(e)));
    }

    fn dev(path: &str, fw: Option<&str>, fw_ok: Option<bool>, cols: Option<u32>) -> FlmDevice {
        FlmDevice { device: path.into(), fw_version: fw.map(Into::into), fw_ok, cols, busy: None }
    }

    const JSON_OK: &str = r#"[FLM]  Using custom model list path: /opt/fastflowlm/share/flm/model_list.json
{"object":"npu_stack_validation","platform":"linux","kernel":"7.1.8-200.fc44.x86_64","kernel_ok":true,"amd_device_found":true,"drm_version":"0.8","devices":[{"device":"/dev/accel/accel0","fw_major":1,"fw_minor":1,"fw_patch":2,"fw_build":65,"fw_ok":true,"cols":8}],"all_fw_ok":true,"enough_cols":true,"memlock_limit":"infinity","memlock_ok":true,"ready":true}
"#;

    #[test]
    fn json_form() {
        let r = parse_flm_validate(JSON_OK).unwrap();
        let want = FlmValidate {
            kernel: Some("7.1.8-200.fc44.x86_64".into()),
            kernel_ok: Some(true),
            amd_device_found: Some(true),
            drm_version: Some("0.8".into()),
            devices: vec![dev("/dev/accel/accel0", Some("1.1.2.65"), Some(true), Some(8))],
            all_fw_ok: Some(true),
            enough_cols: Some(true),
            memlock_limit: Some("infinity".into()),
            memlock_ok: Some(true),
            ready: Some(true),
            errors: vec![],
            busy: None,
        };
        assert_eq!(r, want);

        let cases: &[(&str, FlmValidate)] = &[
            ("{}", FlmValidate::default()),
            (
                "  {\"ready\":false,\"drm_version\":0.6,\"devices\":[],\"errors\":[\"x\"]} trailing",
                FlmValidate {
                    ready: Some(false),
                    drm_version: Some("0.6".into()),
                    errors: vec!["x".into()],
                    ..Default::default()
                },
            ),
            (
                "{\"devices\":[{\"device\":\"/dev/accel/accel1\",\"fw_major\":255,\"fw_minor\":0,\"fw_patch\":11,\"fw_build\":71,\"cols\":99999999999}]}",
                FlmValidate {
                    devices: vec![dev("/dev/accel/accel1", Some("255.0.11.71"), None, None)],
                    ..Default::default()
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(&parse_flm_validate(input).unwrap(), want, "{input:?}");
        }
    }

    #[test]
    fn human_form() {
        // https://github.com/lemonade-sdk/lemonade/issues/1315: healthy.
        let case01 = "[FLM]  Using custom model list path: /opt/fastflowlm/share/flm/model_list.json
[Linux]  Kernel: 6.19.3-cachyos3.fc43.x86_64
[Linux]  NPU: /dev/accel/accel0 with 8 columns
[Linux]  NPU FW Version: 255.0.11.69
[Linux]  amdxdna version: 1.0
[Linux]  Memlock Limit: infinity
";
        // Case 05 (FastFlowLM#421): protocol-6 firmware, error printed before the NPU line.
        let case05 = "[Linux]  Kernel: 6.19.8-1-cachyos
[ERROR]  NPU firmware version on /dev/accel/accel0 is incompatible. Please update NPU firmware!
[Linux]  NPU: /dev/accel/accel0 with 8 columns
[Linux]  NPU FW Version: 1.0.0.63
[Linux]  amdxdna version: 0.6
";
        // Case 09 (Lemonade docs): IOMMU off.
        let case09 = "[Linux]  Kernel: 7.0.0-rc2
[ERROR]  No NPU device found.
[Linux]  Memlock Limit: set to infinity
";
        let cols = "[Linux]  Kernel: 6.17.0-14-generic\n[ERROR]  NPU /dev/accel/accel0 does not have enough columns (4 < 8)\n\
                    [ERROR]  Memlock limit is too low (8MB). Please raise the limit or set to infinity.\n";
        let cases: &[(&str, FlmValidate)] = &[
            (
                case01,
                FlmValidate {
                    kernel: Some("6.19.3-cachyos3.fc43.x86_64".into()),
                    kernel_ok: Some(true),
                    amd_device_found: Some(true),
                    drm_version: Some("1.0".into()),
                    devices: vec![dev("/dev/accel/accel0", Some("255.0.11.69"), Some(true), Some(8))],
                    all_fw_ok: Some(true),
                    enough_cols: Some(true),
                    memlock_limit: Some("infinity".into()),
                    memlock_ok: Some(true),
                    ready: Some(true),
                    errors: vec![],
                    busy: None,
                },
            ),
            (
                case05,
                FlmValidate {
                    kernel: Some("6.19.8-1-cachyos".into()),
                    kernel_ok: Some(true),
                    amd_device_found: Some(true),
                    drm_version: Some("0.6".into()),
                    devices: vec![dev("/dev/accel/accel0", Some("1.0.0.63"), Some(false), Some(8))],
                    all_fw_ok: Some(false),
                    enough_cols: Some(true),
                    ready: Some(false),
                    errors: vec![
                        "NPU firmware version on /dev/accel/accel0 is incompatible. Please update NPU firmware!".into(),
                    ],
                    ..Default::default()
                },
            ),
            (
                case09,
                FlmValidate {
                    kernel: Some("7.0.0-rc2".into()),
                    kernel_ok: Some(true),
                    amd_device_found: Some(false),
                    memlock_limit: Some("infinity".into()),
                    memlock_ok: Some(true),
                    ready: Some(false),
                    errors: vec!["No NPU device found.".into()],
                    ..Default::default()
                },
            ),
            (
                cols,
                FlmValidate {
                    kernel: Some("6.17.0-14-generic".into()),
                    kernel_ok: Some(true),
                    amd_device_found: Some(true),
                    devices: vec![dev("/dev/accel/accel0", None, None, Some(4))],
                    enough_cols: Some(false),
                    memlock_limit: Some("8MB".into()),
                    memlock_ok: Some(false),
                    ready: Some(false),
                    errors: vec![
                        "NPU /dev/accel/accel0 does not have enough columns (4 < 8)".into(),
                        "Memlock limit is too low (8MB). Please raise the limit or set to infinity.".into(),
                    ],
                    ..Default::default()
                },
            ),
            (
                // The kernel check returns before the device scan: nothing is known about devices.
                "[ERROR]  Kernel version incompatible with this version of FLM. Please update your kernel!\n",
                FlmValidate {
                    kernel_ok: Some(false),
                    amd_device_found: None,
                    ready: Some(false),
                    errors: vec![
                        "Kernel version incompatible with this version of FLM. Please update your kernel!".into(),
                    ],
                    ..Default::default()
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(&parse_flm_validate(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn drm_below_the_minimum_is_kernel_ok_false_like_the_json() {
        // Case 10 of ROCm/FastFlowLM#536: in-tree 6.18 driver (DRM 0.1) and 1.0 firmware.
        let out = "[Linux]  Kernel: 6.18.10-061810-generic\n[ERROR]  NPU firmware version on /dev/accel/accel0 is incompatible. Please update NPU firmware!\n\
                   [Linux]  NPU: /dev/accel/accel0 with 8 columns\n[Linux]  NPU FW Version: 1.0.0.166\n\
                   [ERROR]  amdxdna version 0.1 is incompatible\n[Linux]  Memlock Limit: infinity\n";
        let r = parse_flm_validate(out).unwrap();
        assert_eq!((r.kernel_ok, r.drm_version.as_deref(), r.all_fw_ok), (Some(false), Some("0.1"), Some(false)));
        assert_eq!(r.amd_device_found, Some(true));
    }

    #[test]
    fn busy_nodes_per_device_top_level_and_human() {
        // FLM >= 1.0.9 marks a busy node with "busy": true (where is not documented:
        // https://github.com/ROCm/FastFlowLM/releases/tag/v1.0.9).
        let per_device = r#"{"amd_device_found": false, "devices": [{"busy": true, "device": "/dev/accel/accel0"}], "kernel_ok": true, "ready": false}"#;
        let r = parse_flm_validate(per_device).unwrap();
        assert!(r.any_busy() && r.devices[0].busy == Some(true), "{r:?}");
        let top = r#"{"amd_device_found": false, "busy": true, "devices": [], "ready": false}"#;
        assert!(parse_flm_validate(top).unwrap().any_busy());
        let human = "[Linux]  Kernel: 7.2.5-200.fc44.x86_64\n[ERROR]  /dev/accel/accel0: device busy\n[ERROR]  No NPU device found.\n";
        let r = parse_flm_validate(human).unwrap();
        assert!(r.any_busy(), "{r:?}");
        assert_eq!(r.amd_device_found, Some(false));
        // A healthy result serialises without the key (the facts files stay as they were).
        let y = serde_json::to_string(&parse_flm_validate(JSON_OK).unwrap()).unwrap();
        assert!(!y.contains("busy"), "{y}");
    }

    #[test]
    fn garbage_is_err() {
        let long = "x".repeat(500);
        for input in [
            "",
            "\n",
            "{",
            "{\"truncated\":",
            "[1,2,3]",
            "flm: error while loading shared libraries: libxrt_coreutil.so.2: cannot open shared object file",
            "[FLM]  Using custom model list path: /x\n",
            "[Linux",
            "\u{0}\u{fffd}é[",
            long.as_str(),
        ] {
            let e = parse_flm_validate(input).expect_err(input);
            assert!(e.chars().count() < 140, "{e}");
        }
    }

    #[test]
    fn version() {
        let cases = [
            ("{\"version\":\"0.9.35\"}", Some("0.9.35")),
            ("{ \"version\": \"v0.9.43\" }\n", Some("0.9.43")),
            ("FLM v0.9.35\n", Some("0.9.35")),
            ("0.9.35", Some("0.9.35")),
            ("FastFlowLM version 1.0.5.", Some("1.0.5")),
            ("{\"other\":1}", None),
            ("", None),
            ("v", None),
            ("flm: command not found", None),
            ("\u{0}\u{fffd}", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_flm_version(input).as_deref(), want, "{input:?}");
        }
    }
}
