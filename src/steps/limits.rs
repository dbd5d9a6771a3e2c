//! `limits`: memlock unlimited for login sessions (limits.d) and, where the distro needs it,
//! for systemd user sessions (`user@.service` drop-in). Sources: xdna-driver README Q&A —
//! BO allocation fails with a low memlock; Fedora keeps `ulimit -l` at 8192 KiB in user
//! sessions despite limits.d, hence the drop-in
//! (<https://github.com/amd/xdna-driver/blob/856409cafc23cee55976ebcaa0a073ab4ec6dfe2/README.md>, added by
//! <https://github.com/amd/xdna-driver/pull/1557>).

use anyhow::Result;

use super::{Action, Plan, Step, StepCtx};
use crate::edit::managed::managed_file;
use crate::parse::limits::{Memlock, parse_memlock_value, parse_systemd_limit};

/// The limits step.
pub struct Limits;

impl Step for Limits {
    fn id(&self) -> &'static str {
        "limits"
    }
    fn summary(&self) -> &'static str {
        "memlock unlimited: limits.d and the user@.service drop-in"
    }
    fn plan(&self, cx: &StepCtx) -> Result<Plan> {
        let mut p = Plan::default();
        let Some(m) = cx.facts.memlock.ok() else {
            p.blocked = Some(format!("cannot read memlock configuration: {}", cx.facts.memlock.reason().unwrap_or("")));
            return Ok(p);
        };
        // Only `*` lines count here: they cover every user, including service accounts.
        let (mut soft, mut hard) = (None, None);
        for l in m.limits.iter().filter(|l| l.domain == "*") {
            let v = parse_memlock_value(&l.value);
            match l.kind.as_str() {
                "soft" => soft = v,
                "hard" => hard = v,
                _ => {
                    soft = v;
                    hard = v;
                }
            }
        }
        let limits_ok = soft == Some(Memlock::Unlimited) && hard == Some(Memlock::Unlimited);
        let ours = cx.root.read_optional(&cx.recipes.files.memlock_limits)?;
        let limits_content = managed_file("#", "*\tsoft\tmemlock\tunlimited\n*\thard\tmemlock\tunlimited\n");
        if (!limits_ok || ours.is_some()) && ours.as_deref() != Some(limits_content.as_str()) {
            p.actions.push(Action::WriteFile {
                path: cx.recipes.files.memlock_limits.clone(),
                content: limits_content,
                mode: 0o644,
            });
        }
        let needs_dropin = cx.distro().is_some_and(|d| d.user_service_memlock);
        let dropin_ok = m.user_service.last().and_then(|u| parse_systemd_limit(&u.value)) == Some(Memlock::Unlimited);
        let ours_dropin = cx.root.read_optional(&cx.recipes.files.memlock_user_dropin)?;
        let dropin_content = managed_file("#", "[Service]\nLimitMEMLOCK=infinity\n");
        if needs_dropin
            && (!dropin_ok || ours_dropin.is_some())
            && ours_dropin.as_deref() != Some(dropin_content.as_str())
        {
            p.actions.push(Action::WriteFile {
                path: cx.recipes.files.memlock_user_dropin.clone(),
                content: dropin_content,
                mode: 0o644,
            });
            if !cx.offline() {
                p.actions.push(Action::Run {
                    argv: vec!["systemctl".into(), "daemon-reload".into()],
                    why: "load the user@.service drop-in".into(),
                });
            }
        }
        if !p.actions.is_empty() {
            p.notes.push("log out and back in (or reboot): running sessions keep their old memlock limit".into());
        }
        Ok(p)
    }
}
