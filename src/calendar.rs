//! Working days: Monday to Friday except England and Wales bank holidays and
//! the service's own closure days.
//!
//! Bank holidays are data (`rules/calendar/*bank-holidays*.csv`): the years a
//! list covers are taken exactly as listed, one-off days included. Years no
//! list covers (the future beyond the published feed) get the regular
//! holidays computed, Easter and substitute days included, rather than being
//! treated as ordinary working days. The table covers 1990 to 2110 and
//! answers "the Nth working day after" with two array look-ups, because the
//! engine asks that question millions of times.

use crate::time::{FIRST_DATE, parse_date};
use chrono::{Datelike, Days, NaiveDate, Weekday};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The published England and Wales list (GOV.UK), which a calendar folder
/// must hold; other `*bank-holidays*.csv` files add years it does not cover.
pub const PUBLISHED_LIST: &str = "england-and-wales-bank-holidays.csv";

/// Last day the table covers: well past the last accepted input date so
/// deadlines from late dates still resolve.
pub const CALENDAR_END: NaiveDate = NaiveDate::from_ymd_opt(2110, 12, 31).unwrap();

#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}: {message}")]
pub struct CalendarError {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

/// A day that is not worked besides weekends, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NonWorkingDay {
    pub date: NaiveDate,
    pub title: String,
    pub source: DaySource,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DaySource {
    Listed,
    Computed,
    Closure,
}

pub struct Calendar {
    /// Days not worked (weekdays only), with their titles.
    non_working: BTreeMap<NaiveDate, NonWorkingDay>,
    /// For each day since FIRST_DATE: working days on or before it.
    worked_through: Vec<u32>,
    /// The working days in order, as offsets from FIRST_DATE.
    working_days: Vec<u32>,
}

impl Calendar {
    /// Builds the calendar from listed holidays and closure days; every year
    /// in range that no list mentions gets its regular holidays computed.
    pub fn new(listed: Vec<NonWorkingDay>, closures: Vec<NonWorkingDay>) -> Calendar {
        let listed_years: BTreeSet<i32> = listed.iter().map(|d| d.date.year()).collect();
        let mut non_working = BTreeMap::new();
        for year in FIRST_DATE.year()..=CALENDAR_END.year() {
            if !listed_years.contains(&year) {
                for (date, title) in regular_bank_holidays(year) {
                    non_working.insert(date, NonWorkingDay { date, title: title.to_string(), source: DaySource::Computed });
                }
            }
        }
        for day in listed.into_iter().chain(closures) {
            non_working.entry(day.date).or_insert(day);
        }
        let total = (CALENDAR_END - FIRST_DATE).num_days() as usize + 1;
        let mut worked_through = Vec::with_capacity(total);
        let mut working_days = Vec::with_capacity(total * 5 / 7 + 1);
        let mut count = 0;
        for offset in 0..total as u32 {
            let date = FIRST_DATE + Days::new(offset as u64);
            if is_weekday(date) && !non_working.contains_key(&date) {
                count += 1;
                working_days.push(offset);
            }
            worked_through.push(count);
        }
        Calendar { non_working, worked_through, working_days }
    }

    /// Reads `*bank-holidays*.csv` and `closure-days.csv` from a folder.
    pub fn load(folder: &Path) -> Result<Calendar, CalendarError> {
        let mut listed = Vec::new();
        let mut closures = Vec::new();
        let mut published = false;
        let mut names: Vec<PathBuf> = match std::fs::read_dir(folder) {
            Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => {
                return Err(CalendarError {
                    path: folder.to_path_buf(),
                    line: 0,
                    message: format!("cannot read the calendar folder: {e}"),
                });
            }
        };
        names.sort();
        for path in names {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            if !name.ends_with(".csv") {
                continue;
            }
            if name.contains("bank-holidays") {
                let days = read_day_list(&path, DaySource::Listed)?;
                published |= name == PUBLISHED_LIST && !days.is_empty();
                listed.extend(days);
            } else if name.starts_with("closure-days") {
                closures.extend(read_day_list(&path, DaySource::Closure)?);
            }
        }
        // Computed holidays cannot stand in for the published list: one-off
        // days (the State Funeral on 19 September 2022) would be working days.
        if !published {
            return Err(CalendarError {
                path: folder.to_path_buf(),
                line: 0,
                message: format!(
                    "holds no bank holidays in {PUBLISHED_LIST}: the published list (date,title; yjaudit bundles one) \
                     must be there, or its years' one-off holidays would count as working days"
                ),
            });
        }
        Ok(Calendar::new(listed, closures))
    }

    /// Adds a service's closure days to a calendar (e.g. from configuration).
    pub fn with_closures(self, closures: Vec<NonWorkingDay>) -> Calendar {
        let listed: Vec<NonWorkingDay> = self.non_working.into_values().filter(|d| d.source != DaySource::Computed).collect();
        let (listed, mut extra): (Vec<_>, Vec<_>) = listed.into_iter().partition(|d| d.source == DaySource::Listed);
        extra.extend(closures);
        Calendar::new(listed, extra)
    }

    fn offset(&self, date: NaiveDate) -> Option<usize> {
        let offset = (date - FIRST_DATE).num_days();
        (0..self.worked_through.len() as i64).contains(&offset).then_some(offset as usize)
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        is_weekday(date) && !self.non_working.contains_key(&date)
    }

    /// The Nth working day after `date`, not counting `date` itself
    /// (spreadsheet WORKDAY semantics). None outside the table.
    pub fn working_days_after(&self, date: NaiveDate, n: u32) -> Option<NaiveDate> {
        let offset = self.offset(date)?;
        if n == 0 {
            return Some(date);
        }
        let index = self.worked_through[offset] as usize + n as usize - 1;
        let target = *self.working_days.get(index)?;
        Some(FIRST_DATE + Days::new(target as u64))
    }

    /// Working days in (from, to]: how many working days `to` is after `from`.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> Option<i64> {
        let (a, b) = (self.offset(from)?, self.offset(to)?);
        Some(self.worked_through[b] as i64 - self.worked_through[a] as i64)
    }

    /// Non-working weekdays in a date range, for explanations and reports.
    pub fn non_working_days(&self, from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = &NonWorkingDay> {
        self.non_working.range(from..=to).map(|(_, d)| d)
    }
}

fn is_weekday(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

fn read_day_list(path: &Path, source: DaySource) -> Result<Vec<NonWorkingDay>, CalendarError> {
    let error = |line: usize, message: String| CalendarError { path: path.to_path_buf(), line, message };
    let text = std::fs::read_to_string(path).map_err(|e| error(0, format!("cannot read: {e}")))?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| error(1, e.to_string()))?.clone();
    let date_column =
        header.iter().position(|h| h.trim().eq_ignore_ascii_case("date")).ok_or_else(|| error(1, "expected a `date` column".into()))?;
    let title_column = header.iter().position(|h| matches!(h.trim().to_ascii_lowercase().as_str(), "title" | "reason"));
    let mut days = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| error(0, e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let raw = record.get(date_column).unwrap_or("").trim();
        if raw.is_empty() {
            continue;
        }
        let date = parse_date(raw).map_err(|_| error(line, format!("`{raw}` is not a date (expected YYYY-MM-DD)")))?;
        let title = title_column.and_then(|c| record.get(c)).unwrap_or("").trim();
        let title =
            if title.is_empty() { if source == DaySource::Closure { "Service closure day" } else { "Bank holiday" } } else { title };
        days.push(NonWorkingDay { date, title: title.to_string(), source });
    }
    Ok(days)
}

/// Easter Sunday (anonymous Gregorian algorithm).
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("Easter is a real date")
}

/// The regular England and Wales bank holidays of a year, substitute days
/// included (no one-off days: those only come from the published lists).
pub fn regular_bank_holidays(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let ymd = |m, d| NaiveDate::from_ymd_opt(year, m, d).unwrap();
    let first_monday = |m| {
        let first = ymd(m, 1);
        first + Days::new(((7 - first.weekday().num_days_from_monday()) % 7) as u64)
    };
    let last_monday = |m: u32| {
        let last = if m == 12 { ymd(12, 31) } else { ymd(m + 1, 1).pred_opt().unwrap() };
        last - Days::new(last.weekday().num_days_from_monday() as u64)
    };
    let new_year = match ymd(1, 1).weekday() {
        Weekday::Sat => ymd(1, 3),
        Weekday::Sun => ymd(1, 2),
        _ => ymd(1, 1),
    };
    let easter = easter_sunday(year);
    let (christmas, boxing) = match ymd(12, 25).weekday() {
        Weekday::Fri => (ymd(12, 25), ymd(12, 28)),
        Weekday::Sat => (ymd(12, 27), ymd(12, 28)),
        Weekday::Sun => (ymd(12, 27), ymd(12, 26)),
        _ => (ymd(12, 25), ymd(12, 26)),
    };
    vec![
        (new_year, "New Year’s Day"),
        (easter - Days::new(2), "Good Friday"),
        (easter + Days::new(1), "Easter Monday"),
        (first_monday(5), "Early May bank holiday"),
        (last_monday(5), "Spring bank holiday"),
        (last_monday(8), "Summer bank holiday"),
        (christmas, "Christmas Day"),
        (boxing, "Boxing Day"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    fn calendar() -> Calendar {
        Calendar::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/calendar")).unwrap()
    }

    #[test]
    fn easter_dates_match_the_almanac() {
        for (year, date) in [(2024, "2024-03-31"), (2025, "2025-04-20"), (2019, "2019-04-21"), (2038, "2038-04-25"), (2008, "2008-03-23")] {
            assert_eq!(easter_sunday(year), d(date), "{year}");
        }
    }

    #[test]
    fn computed_holidays_agree_with_the_published_list() {
        // Every published year except those with one-off changes must match
        // the regular rules exactly: this is what the future years rely on.
        let published =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/calendar/england-and-wales-bank-holidays.csv"))
                .unwrap();
        for year in 2012..=2028 {
            if [2012, 2020, 2022, 2023].contains(&year) {
                continue; // Jubilees, VE Day 75, coronation, state funeral.
            }
            let mut listed: Vec<NaiveDate> = published.lines().filter(|l| l.starts_with(&year.to_string())).map(|l| d(&l[..10])).collect();
            listed.sort();
            let mut computed: Vec<NaiveDate> = regular_bank_holidays(year).into_iter().map(|(d, _)| d).collect();
            computed.sort();
            assert_eq!(listed, computed, "{year}");
        }
    }

    #[test]
    fn working_days_skip_weekends() {
        let c = calendar();
        // Friday 7 June 2024 + 1 working day = Monday 10 June.
        assert_eq!(c.working_days_after(d("2024-06-07"), 1), Some(d("2024-06-10")));
        // A Saturday trigger: the first working day after is Monday.
        assert_eq!(c.working_days_after(d("2024-06-08"), 1), Some(d("2024-06-10")));
        assert_eq!(c.working_days_after(d("2024-06-03"), 10), Some(d("2024-06-17")));
    }

    #[test]
    fn working_days_skip_easter() {
        let c = calendar();
        // Thursday 28 March 2024; Good Friday 29th and Easter Monday 1 April.
        assert_eq!(c.working_days_after(d("2024-03-28"), 1), Some(d("2024-04-02")));
        assert_eq!(c.working_days_after(d("2024-03-27"), 10), Some(d("2024-04-12")));
        // The worked examples of `rules explain CMM001` and `REC002`.
        assert_eq!(c.working_days_after(d("2024-03-28"), 10), Some(d("2024-04-15")));
        assert_eq!(c.working_days_after(d("2024-03-22"), 5), Some(d("2024-04-02")));
    }

    #[test]
    fn working_days_skip_christmas_substitute_days() {
        let c = calendar();
        // Christmas 2021 fell on Saturday: substitutes Monday 27 and Tuesday 28.
        assert_eq!(c.working_days_after(d("2021-12-24"), 1), Some(d("2021-12-29")));
        // Christmas 2022 on Sunday: Boxing Day Monday 26, substitute Tuesday 27.
        assert_eq!(c.working_days_after(d("2022-12-23"), 1), Some(d("2022-12-28")));
        // New Year's Day 2022 on Saturday: substitute Monday 3 January.
        assert_eq!(c.working_days_after(d("2021-12-31"), 1), Some(d("2022-01-04")));
    }

    #[test]
    fn working_days_skip_one_off_holidays() {
        let c = calendar();
        // State funeral, Monday 19 September 2022.
        assert_eq!(c.working_days_after(d("2022-09-16"), 1), Some(d("2022-09-20")));
        // Coronation, Monday 8 May 2023 (the day after the early May Monday 1st).
        assert!(!c.is_working_day(d("2023-05-08")));
        // Platinum Jubilee: Thursday 2 and Friday 3 June 2022.
        assert_eq!(c.working_days_after(d("2022-06-01"), 1), Some(d("2022-06-06")));
    }

    #[test]
    fn future_years_get_computed_holidays() {
        let c = calendar();
        // 2030: Easter Sunday 21 April, so Good Friday 19th and Easter Monday 22nd.
        assert!(!c.is_working_day(d("2030-04-19")));
        assert!(!c.is_working_day(d("2030-04-22")));
        // Christmas 2033 is a Sunday: Boxing Day Monday, substitute Tuesday.
        assert!(!c.is_working_day(d("2033-12-27")));
    }

    #[test]
    fn counting_is_the_inverse_of_adding() {
        let c = calendar();
        let mut date = d("2019-11-01");
        while date < d("2025-02-01") {
            for n in [1, 2, 5, 10, 15] {
                let after = c.working_days_after(date, n).unwrap();
                assert_eq!(c.working_days_between(date, after), Some(n as i64));
                assert!(c.is_working_day(after));
                // Brute force: walk day by day.
                let mut walked = date;
                let mut left = n;
                while left > 0 {
                    walked = walked.succ_opt().unwrap();
                    if c.is_working_day(walked) {
                        left -= 1;
                    }
                }
                assert_eq!(walked, after);
            }
            date = date.succ_opt().unwrap();
        }
    }

    #[test]
    fn closure_days_are_not_working_days() {
        let c = calendar().with_closures(vec![NonWorkingDay {
            date: d("2024-12-27"),
            title: "Council closure".into(),
            source: DaySource::Closure,
        }]);
        assert_eq!(c.working_days_after(d("2024-12-24"), 1), Some(d("2024-12-30")));
    }
}
