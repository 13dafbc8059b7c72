//! Moments, dues and the time semantics of contract section 3.
//!
//! Case systems export a mix of bare dates and local date-times, and that
//! difference changes how a deadline is judged: a recording due "within 48
//! hours" of a bare-dated meeting can only be compared by date. A [`Moment`]
//! therefore keeps the local wall-clock time *and* whether the source gave a
//! time at all. Elapsed-hour arithmetic goes through UTC with the Europe/London
//! rules, so 48 hours across the March change ends an hour later on the clock.

use chrono::{Datelike, Days, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike};
use chrono_tz::Europe::London;
use std::fmt;

/// Earliest date accepted from an extract (contract section 7).
pub const FIRST_DATE: NaiveDate = NaiveDate::from_ymd_opt(1990, 1, 1).unwrap();
/// Latest date accepted from an extract.
pub const LAST_DATE: NaiveDate = NaiveDate::from_ymd_opt(2100, 12, 31).unwrap();

/// A local date and second of the day, with one flag, in 8 bytes (and 8
/// as an `Option`: chrono's date has a niche), where chrono's date-time
/// alone takes 12 and a flag beside it 16. A national run holds 40 million
/// moments in its events and 75 million in its findings; fractional
/// seconds are dropped on reading (contract section 7), so there is
/// nothing else to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Packed {
    date: NaiveDate,
    /// Seconds since midnight, with [`Packed::FLAG`] set for the flag.
    clock: u32,
}

impl Packed {
    const FLAG: u32 = 1 << 31;

    fn new(at: NaiveDateTime, flag: bool) -> Packed {
        Packed { date: at.date(), clock: at.num_seconds_from_midnight() | if flag { Packed::FLAG } else { 0 } }
    }

    fn at(self) -> NaiveDateTime {
        let seconds = NaiveTime::from_num_seconds_from_midnight_opt(self.seconds(), 0);
        self.date.and_time(seconds.expect("a second of the day, as made"))
    }

    fn seconds(self) -> u32 {
        self.clock & !Packed::FLAG
    }

    fn flag(self) -> bool {
        self.clock & Packed::FLAG != 0
    }
}

/// A point on the local (Europe/London) wall clock, as written in the extract.
///
/// A bare date is held as 00:00 that day marked bare: that is its place in
/// the section 5 event order, and being bare tells rules to compare by date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Moment(Packed);

impl Moment {
    pub fn date_only(date: NaiveDate) -> Moment {
        Moment(Packed::new(date.and_time(NaiveTime::MIN), true))
    }

    /// The moment `at`, to the second.
    pub fn timed(at: NaiveDateTime) -> Moment {
        Moment(Packed::new(at, false))
    }

    /// The local date and time (00:00 for a bare date).
    pub fn at(self) -> NaiveDateTime {
        self.0.at()
    }

    /// Whether the extract gave a date with no time.
    pub fn bare(self) -> bool {
        self.0.flag()
    }

    pub fn date(self) -> NaiveDate {
        self.0.date
    }

    /// In the order of the local clock (a bare date at 00:00), as `at` compares.
    fn clock_order(self) -> (NaiveDate, u32) {
        (self.0.date, self.0.seconds())
    }

    /// This moment as a UTC instant (seconds), for elapsed-time comparison.
    pub fn utc_seconds(self) -> i64 {
        local_to_utc_seconds(self.at())
    }

    /// "At or after" per contract section 6: by date when either is bare.
    pub fn at_or_after(self, other: Moment) -> bool {
        if self.bare() || other.bare() { self.date() >= other.date() } else { self.clock_order() >= other.clock_order() }
    }

    /// "Strictly before" per contract section 6: by date when either is bare.
    pub fn strictly_before(self, other: Moment) -> bool {
        if self.bare() || other.bare() { self.date() < other.date() } else { self.clock_order() < other.clock_order() }
    }
}

impl fmt::Display for Moment {
    /// `YYYY-MM-DD` for a bare date, else `YYYY-MM-DDTHH:MM` with `:SS` only
    /// when the seconds are not zero (contract section 5).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::with_capacity(19);
        push_moment(&mut text, *self);
        f.write_str(&text)
    }
}

/// `YYYY-MM-DD` as bytes, each digit in its place: written whole rather
/// than a push a digit (a national run writes 75 million dates).
fn date_text(date: NaiveDate) -> [u8; 10] {
    let year = date.year().clamp(0, 9999) as u32;
    let ([y0, y1], [y2, y3]) = (two_digits(year / 100), two_digits(year));
    let ([m0, m1], [d0, d1]) = (two_digits(date.month()), two_digits(date.day()));
    [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1]
}

/// The last two decimal digits of `value`, as ASCII, from a table: one
/// lookup where two divisions by ten were (a national run writes over a
/// billion digits).
fn two_digits(value: u32) -> [u8; 2] {
    const PAIRS: [[u8; 2]; 100] = {
        let mut pairs = [[0; 2]; 100];
        let mut n = 0;
        while n < 100 {
            pairs[n] = [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8];
            n += 1;
        }
        pairs
    };
    PAIRS[(value % 100) as usize]
}

/// Appends `text` without checking it is UTF-8 (75 million times a run).
///
/// # Safety
/// `text` must be ASCII.
unsafe fn push_ascii(buf: &mut String, text: &[u8]) {
    debug_assert!(text.is_ascii());
    // SAFETY: the caller's ASCII appended to a `String` leaves it UTF-8.
    unsafe { buf.as_mut_vec().extend_from_slice(text) }
}

/// Appends `YYYY-MM-DD` (four-digit years, as the accepted range is).
pub fn push_date(buf: &mut String, date: NaiveDate) {
    // SAFETY: `two_digits` gives `0` to `9`, and the separators are ASCII.
    unsafe { push_ascii(buf, &date_text(date)) }
}

/// Appends `YYYY-MM-DDTHH:MM`, with `:SS` only when not zero.
pub fn push_date_time(buf: &mut String, at: NaiveDateTime) {
    let (hour, minute, second) = (at.hour(), at.minute(), at.second());
    let mut text = [0; 19];
    text[..10].copy_from_slice(&date_text(at.date()));
    let ([h0, h1], [m0, m1], [s0, s1]) = (two_digits(hour), two_digits(minute), two_digits(second));
    text[10..].copy_from_slice(&[b'T', h0, h1, b':', m0, m1, b':', s0, s1]);
    // SAFETY: `two_digits` gives `0` to `9`, and the separators are ASCII.
    unsafe { push_ascii(buf, &text[..if second != 0 { 19 } else { 16 }]) }
}

/// Appends a moment as the contract writes it.
pub fn push_moment(buf: &mut String, m: Moment) {
    if m.bare() { push_date(buf, m.date()) } else { push_date_time(buf, m.at()) }
}

/// Appends a due as the contract writes it.
pub fn push_due(buf: &mut String, due: Due) {
    match due {
        Due::Date(d) => push_date(buf, d),
        Due::At(at) => push_date_time(buf, at.at()),
    }
}

/// When an obligation falls due: the end of a date, or an exact local moment
/// (only for elapsed-hour rules where both sides carry a time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    Date(NaiveDate),
    /// A moment on the local clock. `repeat` marks the second (GMT) run of
    /// the hour the clocks go back, which the clock alone cannot tell from
    /// the first: 48 hours after 02:30 BST on a Friday ends at 01:30 GMT on
    /// the Sunday, an hour after the 01:30 BST that a written time means.
    At(DueAt),
}

/// A due moment on the local clock, to the second, and whether it is the
/// repeated hour's second run; packed as a [`Moment`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DueAt(Packed);

impl DueAt {
    /// `at`, to the second; `repeat` for the second run of a repeated hour.
    pub fn new(at: NaiveDateTime, repeat: bool) -> DueAt {
        DueAt(Packed::new(at, repeat))
    }

    pub fn at(self) -> NaiveDateTime {
        self.0.at()
    }

    pub fn repeat(self) -> bool {
        self.0.flag()
    }
}

impl Due {
    /// Due at a moment as written (an ambiguous time is its first run, as
    /// everywhere in the extract).
    pub fn at(at: NaiveDateTime) -> Due {
        Due::At(DueAt::new(at, false))
    }

    /// Due `hours` of elapsed time after a local moment (before it, when
    /// negative): counted in UTC, shown on the local clock.
    pub fn hours_after(local: NaiveDateTime, hours: i64) -> Due {
        let instant = local_to_utc_seconds(local) + hours * 3600;
        let at = utc_seconds_to_local(instant);
        Due::At(DueAt::new(at, local_to_utc_seconds(at) != instant))
    }

    /// The local date used for status and day counts.
    pub fn date(self) -> NaiveDate {
        match self {
            Due::Date(d) => d,
            Due::At(at) => at.0.date,
        }
    }

    /// The last local moment that still counts as on time: the due time
    /// itself, or 23:59:59 of a due date (used for attribution).
    pub fn last_moment(self) -> NaiveDateTime {
        match self {
            Due::Date(d) => d.and_hms_opt(23, 59, 59).unwrap(),
            Due::At(at) => at.at(),
        }
    }

    /// Whether an answer at `done` meets this due (section 5: by date when
    /// either side is a bare date; elapsed time otherwise).
    pub fn is_met_by(self, done: Moment) -> bool {
        match self {
            Due::Date(d) => done.date() <= d,
            Due::At(_) if done.bare() => done.date() <= self.date(),
            Due::At(at) if !at.repeat() => done.utc_seconds() <= local_to_utc_seconds(at.at()),
            Due::At(at) => match london_instants(at.at()) {
                Instants::Two(_, second) => done.utc_seconds() <= second,
                // Only a repeated local time is made with `repeat`.
                _ => done.utc_seconds() <= local_to_utc_seconds(at.at()),
            },
        }
    }
}

impl fmt::Display for Due {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::with_capacity(19);
        push_due(&mut text, *self);
        f.write_str(&text)
    }
}

/// Local Europe/London wall-clock time to UTC seconds. A time in the spring
/// gap is read as GMT; an ambiguous autumn time as its first (BST)
/// occurrence (contract section 5).
pub fn local_to_utc_seconds(local: NaiveDateTime) -> i64 {
    match london_instants(local) {
        Instants::One(t) | Instants::Two(t, _) => t,
        Instants::Gap => local.and_utc().timestamp(),
    }
}

/// UTC seconds to Europe/London wall-clock time.
pub fn utc_seconds_to_local(seconds: i64) -> NaiveDateTime {
    if seconds < FIRST_OF_RULE_YEARS {
        let utc = chrono::DateTime::from_timestamp(seconds, 0).expect("timestamp within chrono's range");
        return utc.with_timezone(&London).naive_local();
    }
    utc_seconds_to_local_by_rule(seconds)
}

/// 1 January [`SUMMER_TIME_RULE_SINCE`], 00:00 UTC, in seconds.
const FIRST_OF_RULE_YEARS: i64 = 820_454_400;

/// [`utc_seconds_to_local`] by the summer-time rule, whatever the year:
/// the offset worked out in seconds, and the clock made once.
fn utc_seconds_to_local_by_rule(seconds: i64) -> NaiveDateTime {
    // The year from the mean Gregorian year: it is off only within days
    // of the New Year, months from any change of the clocks.
    const MEAN_YEAR: i64 = 31_556_952;
    let year = 1970 + seconds.div_euclid(MEAN_YEAR) as i32;
    let (starts, ends) = summer_time(year);
    let local = if (starts..ends).contains(&seconds) { seconds + 3600 } else { seconds };
    chrono::DateTime::from_timestamp(local, 0).expect("timestamp within chrono's range").naive_utc()
}

/// From this year on, London's clocks follow one rule (the Summer Time
/// Order 2002, and the EU rule before it): British Summer Time from 01:00
/// GMT on the last Sunday of March to 01:00 GMT on the last Sunday of
/// October. Those years are converted by the rule, which is a few
/// comparisons; earlier years, whose changes followed no one rule, by
/// chrono-tz's Europe/London table (a search of it on every call: a sixth
/// of the rules phase at national scale, where every elapsed-hour
/// obligation converts three times). The rule also carries on past the
/// table's last year, 2099: dates are accepted to 2100 and deadlines run
/// to 2110.
const SUMMER_TIME_RULE_SINCE: i32 = 1996;

/// The UTC instants a local wall-clock time names.
#[derive(Debug, PartialEq)]
enum Instants {
    One(i64),
    /// The hour the clocks go back: its BST run, then its GMT run.
    Two(i64, i64),
    /// The hour skipped when the clocks go forward.
    Gap,
}

fn london_instants(local: NaiveDateTime) -> Instants {
    if local.year() < SUMMER_TIME_RULE_SINCE {
        return match London.from_local_datetime(&local) {
            chrono::LocalResult::Single(t) => Instants::One(t.timestamp()),
            chrono::LocalResult::Ambiguous(first, second) => Instants::Two(first.timestamp(), second.timestamp()),
            chrono::LocalResult::None => Instants::Gap,
        };
    }
    london_instants_by_rule(local)
}

/// [`london_instants`] by the summer-time rule, whatever the year.
fn london_instants_by_rule(local: NaiveDateTime) -> Instants {
    let as_gmt = local.and_utc().timestamp();
    // At 01:00 GMT the clock jumps to 02:00; at 02:00 BST it goes back to 01:00.
    let (starts, ends) = summer_time(local.year());
    if as_gmt < starts || as_gmt >= ends + 3600 {
        Instants::One(as_gmt)
    } else if as_gmt < starts + 3600 {
        Instants::Gap
    } else if as_gmt < ends {
        Instants::One(as_gmt - 3600)
    } else {
        Instants::Two(as_gmt - 3600, as_gmt)
    }
}

/// [`summer_time_utc`] in UTC seconds, looked up for the years an
/// extract's dates and deadlines can fall in (made once; each elapsed-hour
/// deadline asks three times, and finding two last Sundays each time was
/// most of the asking). Seconds, so that the asking is integer comparisons.
fn summer_time(year: i32) -> (i64, i64) {
    const LAST_YEAR_LOOKED_UP: i32 = 2111;
    static TABLE: std::sync::OnceLock<Vec<(i64, i64)>> = std::sync::OnceLock::new();
    let in_seconds = |year| {
        let (starts, ends) = summer_time_utc(year);
        (starts.and_utc().timestamp(), ends.and_utc().timestamp())
    };
    let table = TABLE.get_or_init(|| (SUMMER_TIME_RULE_SINCE..=LAST_YEAR_LOOKED_UP).map(in_seconds).collect());
    let looked_up = usize::try_from(year - SUMMER_TIME_RULE_SINCE).ok().and_then(|i| table.get(i));
    looked_up.copied().unwrap_or_else(|| in_seconds(year))
}

/// When British Summer Time starts and ends in `year`, in UTC (01:00 on the
/// last Sunday of March and of October).
fn summer_time_utc(year: i32) -> (NaiveDateTime, NaiveDateTime) {
    let last_sunday = |month: u32| {
        let last = NaiveDate::from_ymd_opt(year, month, 31).expect("March and October have 31 days");
        (last - Days::new(last.weekday().num_days_from_sunday() as u64)).and_hms_opt(1, 0, 0).expect("01:00 exists")
    };
    (last_sunday(3), last_sunday(10))
}

/// A time limit as a policy states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Span {
    /// Elapsed hours (clock changes count).
    Hours(u32),
    /// Calendar days (a week is 7).
    Days(u32),
    /// Same day N months later, clamped to the month's end.
    Months(u32),
    /// Monday to Friday except bank holidays and closure days.
    WorkingDays(u32),
}

impl Span {
    /// Parses "48 hours", "10 working days", "6 weeks", "1 month".
    pub fn parse(text: &str) -> Result<Span, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let (number, unit) = match words.as_slice() {
            [n, unit] => (*n, unit.to_ascii_lowercase()),
            [n, w, d] => (*n, format!("{} {}", w.to_ascii_lowercase(), d.to_ascii_lowercase())),
            _ => {
                return Err(format!("expected a number and a unit such as \"48 hours\" or \"10 working days\", found \"{text}\""));
            }
        };
        let n: u32 = number.parse().map_err(|_| format!("\"{number}\" is not a whole number (in \"{text}\")"))?;
        if n > 10_000 {
            return Err(format!("{n} is too long a time limit (in \"{text}\")"));
        }
        match unit.as_str() {
            "hour" | "hours" => Ok(Span::Hours(n)),
            "day" | "days" | "calendar day" | "calendar days" => Ok(Span::Days(n)),
            "week" | "weeks" => Ok(Span::Days(n * 7)),
            "month" | "months" => Ok(Span::Months(n)),
            "working day" | "working days" => Ok(Span::WorkingDays(n)),
            other => Err(format!("unknown unit \"{other}\" in \"{text}\": use hours, days, weeks, months or working days")),
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: u32| if n == 1 { "" } else { "s" };
        match *self {
            Span::Hours(n) => write!(f, "{n} hour{}", plural(n)),
            Span::Days(n) if n % 7 == 0 && n > 0 => write!(f, "{} week{}", n / 7, plural(n / 7)),
            Span::Days(n) => write!(f, "{n} day{}", plural(n)),
            Span::Months(n) => write!(f, "{n} month{}", plural(n)),
            Span::WorkingDays(n) => write!(f, "{n} working day{}", plural(n)),
        }
    }
}

/// `date` plus N calendar days (None past chrono's range).
pub fn add_days(date: NaiveDate, days: u32) -> Option<NaiveDate> {
    date.checked_add_days(Days::new(days as u64))
}

/// Same day N months later, clamped to the month's last day.
pub fn add_months(date: NaiveDate, months: u32) -> Option<NaiveDate> {
    date.checked_add_months(Months::new(months))
}

/// Why a date or date-time value was not accepted. The display strings are
/// the reason tokens of contract section 7.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateError {
    Invalid,
    OutOfRange,
    NotLocalTime,
}

impl DateError {
    pub fn token(self, expected_time: bool) -> &'static str {
        match self {
            DateError::Invalid if expected_time => "invalid date-time",
            DateError::Invalid => "invalid date",
            DateError::OutOfRange => "date out of range",
            DateError::NotLocalTime => "not local time",
        }
    }
}

fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(bytes.iter().fold(0u32, |n, b| n * 10 + u32::from(b - b'0')))
}

/// Parses exactly `YYYY-MM-DD` (chrono's own parser is lenient about width
/// and signs, so the shape is checked here and chrono validates the day).
pub fn parse_date(text: &str) -> Result<NaiveDate, DateError> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(DateError::Invalid);
    }
    let (Some(y), Some(m), Some(d)) = (digits(&b[0..4]), digits(&b[5..7]), digits(&b[8..10])) else {
        return Err(DateError::Invalid);
    };
    let date = NaiveDate::from_ymd_opt(y as i32, m, d).ok_or(DateError::Invalid)?;
    if !(FIRST_DATE..=LAST_DATE).contains(&date) {
        return Err(DateError::OutOfRange);
    }
    Ok(date)
}

/// Parses a date-time column: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS[.fff]]` or
/// the same with a space for `T`. Zone designators are refused: the contract
/// wants local time, and guessing a conversion would move deadlines.
pub fn parse_moment(text: &str) -> Result<Moment, DateError> {
    if text.len() <= 10 {
        return parse_date(text).map(Moment::date_only);
    }
    parse_date_time(text).map_err(|e| match e {
        // A zoned bare date (`2024-05-01Z`, `2024-05-01 BST`) is still zoned.
        DateError::Invalid
            if text.is_char_boundary(10) && parse_date(&text[..10]).is_ok() && is_zone_designator(&text.as_bytes()[10..]) =>
        {
            DateError::NotLocalTime
        }
        other => other,
    })
}

/// [`parse_moment`] for a value longer than a date.
fn parse_date_time(text: &str) -> Result<Moment, DateError> {
    let b = text.as_bytes();
    if !text.is_char_boundary(10) || (b[10] != b'T' && b[10] != b' ' && b[10] != b't') {
        return Err(DateError::Invalid);
    }
    let date = parse_date(&text[..10]);
    let rest = &b[11..];
    if rest.len() < 5 || rest[2] != b':' {
        return Err(DateError::Invalid);
    }
    let (Some(hour), Some(minute)) = (digits(&rest[0..2]), digits(&rest[3..5])) else {
        return Err(DateError::Invalid);
    };
    let mut second = 0;
    let mut tail = &rest[5..];
    if tail.len() >= 3 && tail[0] == b':' {
        second = digits(&tail[1..3]).ok_or(DateError::Invalid)?;
        tail = &tail[3..];
        if tail.first() == Some(&b'.') {
            let fraction = tail[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if fraction == 0 {
                return Err(DateError::Invalid);
            }
            tail = &tail[1 + fraction..];
        }
    }
    if !tail.is_empty() {
        return Err(if is_zone_designator(tail) { DateError::NotLocalTime } else { DateError::Invalid });
    }
    let time = NaiveTime::from_hms_opt(hour, minute, second).ok_or(DateError::Invalid)?;
    Ok(Moment::timed(date?.and_time(time)))
}

/// `Z`, `+01:00`, `+0100`, `-05`, ` BST`, `UTC` and the like.
fn is_zone_designator(tail: &[u8]) -> bool {
    let tail = tail.strip_prefix(b" ").unwrap_or(tail);
    match tail {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', rest @ ..] => {
            let digits_only: Vec<u8> = rest.iter().copied().filter(|c| *c != b':').collect();
            matches!(digits_only.len(), 2 | 4) && digits_only.iter().all(u8::is_ascii_digit)
        }
        // An abbreviation (BST, GMT, UTC) or a zone's name (Europe/London).
        letters => {
            (2..=5).contains(&letters.len()) && letters.iter().all(u8::is_ascii_alphabetic)
                || letters.contains(&b'/') && letters.iter().all(|c| c.is_ascii_alphabetic() || matches!(c, b'/' | b'_' | b'-'))
        }
    }
}

/// Calendar days from `from` to `to` (negative when `to` is earlier).
pub fn days_between(from: NaiveDate, to: NaiveDate) -> i64 {
    to.signed_duration_since(from).num_days()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Dates and date-times are written as chrono formats them, seconds
        /// only when not zero, years 1 to 9999.
        #[test]
        fn dates_are_written_as_chrono_formats_them(days in 0i32..3_652_059, seconds in 0u32..86_400) {
            let date = NaiveDate::from_num_days_from_ce_opt(days + 1).unwrap();
            let at = date.and_time(NaiveTime::from_num_seconds_from_midnight_opt(seconds, 0).unwrap());
            let mut text = String::new();
            push_date(&mut text, date);
            proptest::prop_assert_eq!(&text, &date.format("%Y-%m-%d").to_string());
            text.clear();
            push_date_time(&mut text, at);
            let expected = at.format(if seconds % 60 == 0 { "%Y-%m-%dT%H:%M" } else { "%Y-%m-%dT%H:%M:%S" }).to_string();
            proptest::prop_assert_eq!(text, expected);
        }
    }

    proptest::proptest! {
        /// A moment (or due) packed into a date and a second gives back what it
        /// was made from, and compares as chrono's date-times do.
        #[test]
        fn a_moment_keeps_its_date_time_and_order(
            days in 0i64..(LAST_DATE - FIRST_DATE).num_days(),
            seconds in 0u32..86_400,
            other_days in 0i64..3,
            other_seconds in 0u32..86_400,
        ) {
            let at = (FIRST_DATE + chrono::Days::new(days as u64)).and_time(NaiveTime::from_num_seconds_from_midnight_opt(seconds, 0).unwrap());
            let other = (at.date() + chrono::Days::new(other_days as u64)).and_time(NaiveTime::from_num_seconds_from_midnight_opt(other_seconds, 0).unwrap());
            let (m, n) = (Moment::timed(at), Moment::timed(other));
            proptest::prop_assert_eq!(m.at(), at);
            for repeat in [false, true] {
                proptest::prop_assert_eq!(DueAt::new(at, repeat).at(), at);
                proptest::prop_assert_eq!(DueAt::new(at, repeat).repeat(), repeat);
                proptest::prop_assert_eq!(Due::At(DueAt::new(at, repeat)).date(), at.date());
            }
            proptest::prop_assert!(!m.bare());
            proptest::prop_assert_eq!(m.date(), at.date());
            proptest::prop_assert_eq!(m.at_or_after(n), at >= other);
            proptest::prop_assert_eq!(n.at_or_after(m), other >= at);
            proptest::prop_assert_eq!(m.strictly_before(n), at < other);
            let bare = Moment::date_only(at.date());
            proptest::prop_assert!(bare.bare());
            proptest::prop_assert_eq!(bare.at(), at.date().and_time(NaiveTime::MIN));
            proptest::prop_assert_eq!(bare.at_or_after(m), true);
            proptest::prop_assert_eq!(m.strictly_before(bare), false);
            proptest::prop_assert_eq!(bare == Moment::timed(at.date().and_time(NaiveTime::MIN)), false);
        }
    }

    #[test]
    fn moments_and_dues_take_eight_bytes() {
        // Each byte is 60 MB at national scale (events and findings hold 115 million).
        assert_eq!(size_of::<Moment>(), 8);
        assert_eq!(size_of::<Option<Moment>>(), 8);
        assert_eq!(size_of::<Due>(), 8);
    }

    fn dt(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap()
    }

    #[test]
    fn parses_the_contract_shapes() {
        assert_eq!(parse_moment("2024-03-05").unwrap().to_string(), "2024-03-05");
        assert_eq!(parse_moment("2024-03-05T09:30").unwrap().to_string(), "2024-03-05T09:30");
        assert_eq!(parse_moment("2024-03-05 09:30:00").unwrap().to_string(), "2024-03-05T09:30");
        assert_eq!(parse_moment("2024-03-05 09:30:07.250").unwrap().to_string(), "2024-03-05T09:30:07");
    }

    #[test]
    fn refuses_lenient_and_zoned_values() {
        for bad in [
            "2024-1-5",
            " 2024-01-05",
            "+2024-01-05",
            "2024-01-0510:00",
            "2024-02-30",
            "2024-01-05T25:00",
            "2024-01-0\u{e9}5 10:00",
            "05/01/2024",
            "2024-01-05T10:00x",
        ] {
            assert_eq!(parse_moment(bad), Err(DateError::Invalid), "{bad}");
        }
        for zoned in [
            "2024-01-05T10:00Z",
            "2024-01-05T10:00+01:00",
            "2024-01-05T10:00+0100",
            "2024-01-05 10:00 BST",
            "2024-01-05Z",
            "2024-01-05 BST",
            "2024-01-05+01:00",
            "2024-01-05T10:00:45 Europe/London",
        ] {
            assert_eq!(parse_moment(zoned), Err(DateError::NotLocalTime), "{zoned}");
        }
        assert_eq!(parse_date("1989-12-31"), Err(DateError::OutOfRange));
        assert_eq!(parse_date("2999-01-01"), Err(DateError::OutOfRange));
        assert!(parse_date("2100-12-31").is_ok());
    }

    #[test]
    fn forty_eight_hours_across_the_march_change_ends_an_hour_later() {
        // Clocks went forward at 01:00 GMT on Sunday 31 March 2024.
        assert_eq!(Due::hours_after(dt("2024-03-30T10:00"), 48), Due::at(dt("2024-04-01T11:00")));
        // And back at 02:00 BST on Sunday 27 October 2024.
        assert_eq!(Due::hours_after(dt("2024-10-26T10:00"), 48), Due::at(dt("2024-10-28T09:00")));
        assert_eq!(Due::hours_after(dt("2024-06-01T10:00"), 48), Due::at(dt("2024-06-03T10:00")));
        assert_eq!(Due::hours_after(dt("2024-10-28T09:00"), -48), Due::at(dt("2024-10-26T10:00")));
    }

    #[test]
    fn a_due_in_the_repeated_autumn_hour_is_judged_by_the_instant_not_the_clock() {
        let timed = |s| Moment::timed(dt(s));
        // 02:30 BST on Friday 23 October 2026 is 01:30 UTC; 48 hours on is
        // 01:30 UTC on Sunday 25 October, after the clocks went back: 01:30 GMT.
        let due = Due::hours_after(dt("2026-10-23T02:30"), 48);
        assert_eq!(due, Due::At(DueAt::new(dt("2026-10-25T01:30"), true)));
        assert_eq!(due.to_string(), "2026-10-25T01:30");
        // A written 01:45 that day is its first run (BST, 00:45 UTC): on time.
        assert!(due.is_met_by(timed("2026-10-25T01:45")));
        assert!(due.is_met_by(timed("2026-10-25T01:59")));
        // 02:00 exists once (GMT, 02:00 UTC): late.
        assert!(!due.is_met_by(timed("2026-10-25T02:00")));
        // 48 hours after 01:30 BST on the Friday (00:30 UTC) ends in the
        // first run of the hour: a written 01:45 that Sunday is late.
        let first = Due::hours_after(dt("2026-10-23T01:30"), 48);
        assert_eq!(first, Due::At(DueAt::new(dt("2026-10-25T01:30"), false)));
        assert!(!first.is_met_by(timed("2026-10-25T01:45")));
        assert!(first.is_met_by(timed("2026-10-25T01:30")));
        // A due 24 hours before a CMM at 01:10 GMT on Monday 26 October
        // (01:10 UTC) is 01:10 GMT on the Sunday: a report at 01:50 (BST) is on time.
        let before = Due::hours_after(dt("2026-10-26T01:10"), -24);
        assert_eq!(before, Due::At(DueAt::new(dt("2026-10-25T01:10"), true)));
        assert!(before.is_met_by(timed("2026-10-25T01:50")));
    }

    /// The rule used from 1996, checked against chrono-tz's table for
    /// every year both cover: at every quarter hour around both changes,
    /// and every five hours between (and either way: local to UTC, UTC to
    /// local).
    #[test]
    fn the_summer_time_rule_agrees_with_the_table_wherever_both_exist() {
        let tabled = |local: NaiveDateTime| match London.from_local_datetime(&local) {
            chrono::LocalResult::Single(t) => (Some(t.timestamp()), None),
            chrono::LocalResult::Ambiguous(a, b) => (Some(a.timestamp()), Some(b.timestamp())),
            chrono::LocalResult::None => (None, None),
        };
        const LAST_TABLED_YEAR: i32 = 2099;
        for year in SUMMER_TIME_RULE_SINCE..=LAST_TABLED_YEAR {
            let (starts, ends) = summer_time_utc(year);
            let around_the_changes =
                [starts, ends].into_iter().flat_map(|change| (-12..=12).map(move |q| change + chrono::TimeDelta::minutes(15 * q)));
            let new_year = NaiveDate::from_ymd_opt(year, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
            let through_the_year = (0..366 * 24 / 5).map(|n| new_year + chrono::TimeDelta::hours(5 * n));
            for local in around_the_changes.chain(through_the_year) {
                let by_rule = match london_instants_by_rule(local) {
                    Instants::One(t) => (Some(t), None),
                    Instants::Two(a, b) => (Some(a), Some(b)),
                    Instants::Gap => (None, None),
                };
                assert_eq!(by_rule, tabled(local), "{local}");
                let instant = local.and_utc().timestamp();
                let utc = chrono::DateTime::from_timestamp(instant, 0).unwrap();
                assert_eq!(utc_seconds_to_local_by_rule(instant), utc.with_timezone(&London).naive_local(), "{local} UTC");
            }
        }
    }

    /// The year of a UTC instant is estimated, not worked out: around every
    /// change and every New Year from 1996 to 2400 (past the table and the
    /// tabled years) it gives what the exact year gives.
    #[test]
    fn utc_to_local_by_rule_agrees_with_the_exact_year_in_every_year() {
        for year in SUMMER_TIME_RULE_SINCE..=2400 {
            let (starts, ends) = summer_time_utc(year);
            let new_year = NaiveDate::from_ymd_opt(year, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
            let moments = [starts, ends, new_year].into_iter().flat_map(|m| (-8..=8).map(move |q| m + chrono::TimeDelta::minutes(15 * q)));
            for utc in moments {
                let (starts, ends) = summer_time_utc(utc.year());
                let expected = if (starts..ends).contains(&utc) { utc + chrono::TimeDelta::hours(1) } else { utc };
                assert_eq!(utc_seconds_to_local_by_rule(utc.and_utc().timestamp()), expected, "{utc} UTC");
            }
        }
    }

    #[test]
    fn the_rule_years_start_on_the_first_of_january_of_the_first() {
        let first = NaiveDate::from_ymd_opt(SUMMER_TIME_RULE_SINCE, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
        assert_eq!(FIRST_OF_RULE_YEARS, first.and_utc().timestamp());
    }

    #[test]
    fn summer_time_looked_up_is_summer_time_worked_out_in_every_year() {
        for year in 1800..=2300 {
            let (starts, ends) = summer_time_utc(year);
            assert_eq!(summer_time(year), (starts.and_utc().timestamp(), ends.and_utc().timestamp()), "{year}");
        }
    }

    #[test]
    fn the_clocks_still_change_after_the_table_ends() {
        // 48 hours from Saturday 27 March 2100, 10:00 GMT: the clocks go
        // forward on Sunday 28 March, so it ends at 11:00 BST on the Monday.
        assert_eq!(Due::hours_after(dt("2100-03-27T10:00"), 48), Due::at(dt("2100-03-29T11:00")));
        // They go back on Sunday 31 October 2100: 09:00 GMT on 2 November.
        assert_eq!(Due::hours_after(dt("2100-10-30T10:00"), 48), Due::at(dt("2100-11-01T09:00")));
        assert_eq!(local_to_utc_seconds(dt("2100-03-28T01:30")), dt("2100-03-28T01:30").and_utc().timestamp());
        assert_eq!(local_to_utc_seconds(dt("2100-10-31T01:30")), dt("2100-10-31T00:30").and_utc().timestamp());
        let repeated = Due::hours_after(dt("2100-10-29T02:30"), 48);
        assert_eq!(repeated, Due::At(DueAt::new(dt("2100-10-31T01:30"), true)));
        assert!(repeated.is_met_by(Moment::timed(dt("2100-10-31T01:45"))));
        assert_eq!(Due::hours_after(dt("2110-06-01T10:00"), 48), Due::at(dt("2110-06-03T10:00")));
    }

    #[test]
    fn gap_times_read_as_gmt_and_ambiguous_times_as_bst() {
        // 01:30 on 31 March 2024 does not exist: read as 01:30 GMT.
        assert_eq!(local_to_utc_seconds(dt("2024-03-31T01:30")), dt("2024-03-31T01:30").and_utc().timestamp());
        // 01:30 on 27 October 2024 happens twice: the first is 00:30 UTC.
        assert_eq!(local_to_utc_seconds(dt("2024-10-27T01:30")), dt("2024-10-27T00:30").and_utc().timestamp());
    }

    #[test]
    fn months_clamp_to_the_month_end() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(add_months(d("2024-11-30"), 3), Some(d("2025-02-28")));
        assert_eq!(add_months(d("2023-11-30"), 3), Some(d("2024-02-29")));
        assert_eq!(add_months(d("2024-01-31"), 1), Some(d("2024-02-29")));
    }

    #[test]
    fn spans_read_like_policy_text() {
        assert_eq!(Span::parse("48 hours"), Ok(Span::Hours(48)));
        assert_eq!(Span::parse("10 working days"), Ok(Span::WorkingDays(10)));
        assert_eq!(Span::parse("11 weeks"), Ok(Span::Days(77)));
        assert_eq!(Span::parse("3 months"), Ok(Span::Months(3)));
        assert!(Span::parse("3 fortnights").is_err());
        assert_eq!(Span::Days(42).to_string(), "6 weeks");
    }
}
