//! What the recipes say about themselves (`recipes/meta.yaml`): the layout version a binary can
//! read (`schema`), the bundle version (`version`, ordered: an update never goes back) and the
//! date the facts were last checked against upstream (`as_of`, which doctor ages). Plus the
//! calendar arithmetic that needs: a civil date without a time zone, days between two dates,
//! and today's date from the system clock (UTC).

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The recipes layout this binary reads. A bundle or data directory whose `schema` differs is
/// refused: its files may have fields or meanings this binary does not know. Bump it (here and
/// in `recipes/meta.yaml`) when a change to the data files would make an older binary misread
/// them; additive data within the same types does not need a bump.
pub const RECIPES_SCHEMA: u32 = 1;

/// `recipes/meta.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// Layout version; must equal [`RECIPES_SCHEMA`].
    pub schema: u32,
    /// Bundle version, dotted numbers (`2026.12.06`, `2026.12.06.1`).
    pub version: RecipesVersion,
    /// The date the facts were last checked against upstream.
    pub as_of: Date,
}

impl Meta {
    /// Orders two copies: by version, then by date. `Less` means `self` is older.
    pub fn cmp_age(&self, other: &Meta) -> Ordering {
        self.version.cmp(&other.version).then(self.as_of.cmp(&other.as_of))
    }

    /// Why `self` may not replace `current` (a rollback), if it may not: a lower version or an
    /// earlier `as_of` date than the copy in use.
    pub fn rollback_from(&self, current: &Meta) -> Option<String> {
        if self.version < current.version {
            return Some(format!("version {} is older than {} in use", self.version, current.version));
        }
        if self.as_of < current.as_of {
            return Some(format!("its facts are as of {}, older than {} in use", self.as_of, current.as_of));
        }
        None
    }
}

/// A bundle version: dot-separated decimal numbers, compared numerically part by part
/// (`2026.12.6` equals `2026.12.06`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RecipesVersion {
    text: String,
    parts: Vec<u64>,
}

impl RecipesVersion {
    /// Parses `2026.12.06`; anything but dot-separated decimal numbers is an error.
    pub fn parse(s: &str) -> Result<Self, String> {
        let parts: Option<Vec<u64>> =
            s.split('.').map(|p| p.bytes().all(|b| b.is_ascii_digit()).then(|| p.parse().ok()).flatten()).collect();
        match parts {
            Some(parts) if !s.is_empty() && parts.len() <= 8 => Ok(RecipesVersion { text: s.to_string(), parts }),
            _ => Err(format!("version {s:?} is not dot-separated numbers (e.g. \"2026.12.06\")")),
        }
    }

    /// As written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Ord for RecipesVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        // Missing trailing parts count as 0: 2026.12.06 == 2026.12.06.0 < 2026.12.06.1.
        let n = self.parts.len().max(other.parts.len());
        let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
        (0..n).map(|i| at(&self.parts, i).cmp(&at(&other.parts, i))).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
    }
}

impl PartialEq for RecipesVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for RecipesVersion {}

impl PartialOrd for RecipesVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl TryFrom<String> for RecipesVersion {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        RecipesVersion::parse(&s)
    }
}

impl From<RecipesVersion> for String {
    fn from(v: RecipesVersion) -> String {
        v.text
    }
}

impl fmt::Display for RecipesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A civil date (proleptic Gregorian, no time zone), written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Date {
    year: i32,
    month: u32,
    day: u32,
}

impl Date {
    /// Parses `YYYY-MM-DD`, rejecting days the month does not have.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("date {s:?} is not a calendar date YYYY-MM-DD");
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| {
            let p = &s[r];
            if p.bytes().all(|c| c.is_ascii_digit()) { p.parse::<u32>().ok() } else { None }
        };
        let (Some(year), Some(month), Some(day)) = (num(0..4), num(5..7), num(8..10)) else { return Err(bad()) };
        let year = year as i32;
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(bad());
        }
        Ok(Date { year, month, day })
    }

    /// Days since 1970-01-01 (H. Hinnant's `days_from_civil`).
    pub fn days_since_epoch(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01 (H. Hinnant's `civil_from_days`).
    pub fn from_days_since_epoch(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }

    /// The UTC date of a Unix time.
    pub fn from_unix(secs: u64) -> Self {
        Date::from_days_since_epoch((secs / 86_400) as i64)
    }

    /// Today in UTC by the system clock (a clock before 1970 reads as 1970-01-01).
    pub fn today() -> Self {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        Date::from_unix(secs)
    }

    /// Whole days from `earlier` to `self` (negative when `self` is before it).
    pub fn days_after(self, earlier: Date) -> i64 {
        self.days_since_epoch() - earlier.days_since_epoch()
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl TryFrom<String> for Date {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Date::parse(&s)
    }
}

impl From<Date> for String {
    fn from(d: Date) -> String {
        d.to_string()
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl std::str::FromStr for Date {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Date::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_strictly() {
        assert_eq!(Date::parse("2026-12-06").unwrap().to_string(), "2026-12-06");
        assert!(Date::parse("2028-02-29").is_ok());
        for bad in
            ["2026-02-29", "2026-13-01", "2026-00-10", "2026-1-01", "26-12-06", "2026-12-06T00", "2026/12/06", ""]
        {
            assert!(Date::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn day_arithmetic_round_trips() {
        assert_eq!(Date::parse("1970-01-01").unwrap().days_since_epoch(), 0);
        assert_eq!(Date::parse("2000-03-01").unwrap().days_since_epoch(), 11_017);
        for d in [-800_000, -1, 0, 59, 60, 11_016, 20_793, 2_000_000] {
            assert_eq!(Date::from_days_since_epoch(d).days_since_epoch(), d);
        }
        let a = Date::parse("2026-12-06").unwrap();
        assert_eq!(Date::parse("2027-04-05").unwrap().days_after(a), 120);
        assert_eq!(a.days_after(Date::parse("2027-04-05").unwrap()), -120);
        assert!(Date::today() >= Date::parse("2024-01-01").unwrap(), "the system clock reads before 2024");
    }

    #[test]
    fn versions_order_numerically() {
        let v = |s: &str| RecipesVersion::parse(s).unwrap();
        assert!(v("2026.12.06") < v("2026.12.10"));
        assert!(v("2026.12.06") < v("2026.12.06.1"));
        assert_eq!(v("2026.12.06").cmp(&v("2026.12.6")), Ordering::Equal);
        assert!(v("2027.1.1") > v("2026.12.31"));
        for bad in ["", "2026..1", "v2026.1", "2026.12.06-rc1", "1.-2"] {
            assert!(RecipesVersion::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rollback_is_a_lower_version_or_an_older_date() {
        let m = |v: &str, d: &str| Meta {
            schema: RECIPES_SCHEMA,
            version: RecipesVersion::parse(v).unwrap(),
            as_of: Date::parse(d).unwrap(),
        };
        let cur = m("2026.12.06", "2026-12-06");
        assert!(m("2026.12.01", "2026-12-06").rollback_from(&cur).unwrap().contains("older than 2026.12.06"));
        assert!(m("2026.12.07", "2026-11-01").rollback_from(&cur).unwrap().contains("as of 2026-11-01"));
        assert_eq!(m("2026.12.06", "2026-12-06").rollback_from(&cur), None);
        assert_eq!(m("2027.01.02", "2027-01-02").rollback_from(&cur), None);
    }
}
