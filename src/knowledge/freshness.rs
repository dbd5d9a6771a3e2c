//! How old the recipes in use are: their `as_of` date (the day their facts were last checked
//! against upstream) against today's date. Upstream moves — driver releases, firmware names,
//! Lemonade's configuration — so a copy past [`MAX_AGE_DAYS`] deserves a warning and an update
//! (`npu-setup recipes update`), never a failure: old knowledge is still mostly right.

use crate::recipes::meta::{Date, Meta};

/// Age at which the recipes count as stale.
pub const MAX_AGE_DAYS: i64 = 120;

/// The verdict on the recipes' age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// At most [`MAX_AGE_DAYS`] old.
    Fresh {
        /// Days since `as_of`.
        age_days: i64,
    },
    /// Older than [`MAX_AGE_DAYS`].
    Stale {
        /// Days since `as_of`.
        age_days: i64,
    },
    /// `as_of` lies after today: the clock is behind (or the data was dated ahead).
    Ahead {
        /// Days from today to `as_of`.
        days_ahead: i64,
    },
    /// No date to judge against (a fixture tree that replays no clock).
    NoClock,
}

/// Judges `meta.as_of` against `today`.
pub fn freshness(meta: &Meta, today: Option<Date>) -> Freshness {
    let Some(today) = today else { return Freshness::NoClock };
    let age_days = today.days_after(meta.as_of);
    if age_days < 0 {
        Freshness::Ahead { days_ahead: -age_days }
    } else if age_days > MAX_AGE_DAYS {
        Freshness::Stale { age_days }
    } else {
        Freshness::Fresh { age_days }
    }
}

/// `1 day`, `5 days`.
pub fn days(n: i64) -> String {
    if n == 1 { "1 day".to_string() } else { format!("{n} days") }
}
