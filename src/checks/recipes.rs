//! `host.recipes`: which copy of the recipes judged this host, and whether its facts are
//! recent. Upstream moves (driver releases, firmware names, Lemonade's configuration), so past
//! 120 days the check warns and says how to update; it never fails: old knowledge is still
//! mostly right, and a host is not broken because its tool is behind.

use super::{Ctx, Outcome, Remedy};
use crate::knowledge::freshness::{Freshness, MAX_AGE_DAYS, days, freshness};
use crate::recipes::RecipesCopy;

/// The command that fetches the newest signed recipes.
const UPDATE: &str = "sudo npu-setup recipes update";

/// `host.recipes`.
pub fn host_recipes(c: &Ctx) -> Outcome {
    let r = c.r;
    let m = &r.meta;
    let copy = match r.copy {
        RecipesCopy::BuiltIn => "built-in recipes".to_string(),
        RecipesCopy::Stored => "stored recipes bundle".to_string(),
        RecipesCopy::DataDir => format!("recipes from --data-dir {}", r.origin),
    };
    let ev = |o: Outcome| {
        o.ev("copy", r.copy.as_str())
            .ev("origin", &r.origin)
            .ev("version", m.version.as_str())
            .ev("as_of", m.as_of.to_string())
            .ev("schema", m.schema)
            .ev("max_age_days", MAX_AGE_DAYS)
    };
    match freshness(m, c.opts.today) {
        // Without a clock nothing is judged, and the evidence (which changes with every
        // bump of recipes/meta.yaml) stays out of the fixture reports.
        Freshness::NoClock => Outcome::skip(format!(
            "{copy}: age not judged (a fixture tree replays no clock; `today:` in its .fixture.yaml sets one)"
        )),
        Freshness::Fresh { age_days } => {
            ev(Outcome::pass(format!("{copy} {}, facts as of {} ({} old)", m.version, m.as_of, days(age_days))))
                .ev("age_days", age_days)
        }
        Freshness::Ahead { days_ahead } => ev(Outcome::pass(format!(
            "{copy} {}, facts as of {}: {} after this host's date (is the clock right?)",
            m.version,
            m.as_of,
            days(days_ahead)
        )))
        .ev("age_days", -days_ahead),
        Freshness::Stale { age_days } => {
            let remedy = match r.copy {
                RecipesCopy::DataDir => Remedy {
                    text: format!(
                        "The data directory {} says its facts are as of {}: update it (its recipes/meta.yaml dates them), or drop --data-dir to use the built-in or stored recipes.",
                        r.origin, m.as_of
                    ),
                    ..Default::default()
                },
                RecipesCopy::BuiltIn | RecipesCopy::Stored => Remedy {
                    text: format!(
                        "Fetch the newest signed recipes (stored under /var/lib/npu-setup/recipes and used from then on), or upgrade npu-setup. `npu-setup recipes show` says which copy is in use. The facts these are based on date from {}.",
                        m.as_of
                    ),
                    commands: vec![UPDATE.to_string()],
                    ..Default::default()
                },
            };
            ev(Outcome::warn(format!(
                "{copy} {} are {} old (facts as of {}; older than {MAX_AGE_DAYS} days): upstream may have moved since",
                m.version,
                days(age_days),
                m.as_of
            )))
            .ev("age_days", age_days)
            .remedy(remedy)
        }
    }
}
