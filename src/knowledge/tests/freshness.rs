//! The recipes' age against today's date.

use crate::knowledge::freshness::{Freshness, freshness};
use crate::recipes::meta::{Date, Meta, RECIPES_SCHEMA, RecipesVersion};

#[test]
fn the_boundary_is_120_days() {
    let meta = Meta {
        schema: RECIPES_SCHEMA,
        version: RecipesVersion::parse("2026.12.06").unwrap(),
        as_of: Date::parse("2026-12-06").unwrap(),
    };
    let on = |d: &str| freshness(&meta, Some(Date::parse(d).unwrap()));
    assert_eq!(on("2026-12-06"), Freshness::Fresh { age_days: 0 });
    assert_eq!(on("2027-04-05"), Freshness::Fresh { age_days: 120 });
    assert_eq!(on("2027-04-06"), Freshness::Stale { age_days: 121 });
    assert_eq!(on("2026-12-01"), Freshness::Ahead { days_ahead: 5 });
    assert_eq!(freshness(&meta, None), Freshness::NoClock);
}
