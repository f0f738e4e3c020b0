//! Calendar dates for the OOLONG records, and a lenient parser for dates in
//! answers.
//!
//! A small proleptic-Gregorian date type is all the tasks need, so the crate
//! does without a date library.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Abbreviated month names, as written in the records (`Jan 02, 2024`).
pub(crate) const MONTH_ABBR: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Full month names, as written in queries (`in March 2024`).
pub(crate) const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Date {
    /// The year, e.g. 2024.
    pub year: i32,
    /// The month, 1 to 12.
    pub month: u8,
    /// The day of the month, 1 to 31.
    pub day: u8,
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    /// A date if it exists in the calendar.
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        (1..=12)
            .contains(&month)
            .then_some(())
            .filter(|_| day >= 1 && day <= days_in_month(year, month))
            .map(|_| Date { year, month, day })
    }

    /// The `n`th day (0-based) of `year`.
    pub(crate) fn from_day_of_year(year: i32, mut n: u32) -> Date {
        let mut month = 1;
        loop {
            let len = u32::from(days_in_month(year, month));
            if n < len || month == 12 {
                return Date { year, month, day: (n + 1) as u8 };
            }
            n -= len;
            month += 1;
        }
    }

    /// The 0-based day of the year.
    #[cfg(test)]
    pub(crate) fn day_of_year(self) -> u32 {
        (1..self.month).map(|m| u32::from(days_in_month(self.year, m))).sum::<u32>() + u32::from(self.day) - 1
    }

    /// The number of days in `year`.
    pub(crate) fn days_in_year(year: i32) -> u32 {
        if is_leap(year) { 366 } else { 365 }
    }
}

/// Written as in the records: `Jan 02, 2024`.
impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:02}, {}", MONTH_ABBR[usize::from(self.month) - 1], self.day, self.year)
    }
}

fn month_from_word(w: &str) -> Option<u8> {
    let w = w.to_ascii_lowercase();
    if w.len() < 3 {
        return None;
    }
    MONTH_NAMES
        .iter()
        .position(|m| {
            let m = m.to_ascii_lowercase();
            // `Jan`, `January`, and `Sept` all name a month; `Marsh` does not.
            m == w || (w.len() <= 4 && m.starts_with(&w))
        })
        .map(|i| i as u8 + 1)
}

/// Finds a date in free text. Understands `Jan 02, 2024`, `January 2, 2024`,
/// `2 January 2024`, `02 Jan 2024`, `2024-01-02`, `2024/01/02` and
/// `01/02/2024` (month first, unless the first number is above 12). Returns
/// the first date found.
pub fn parse_date(text: &str) -> Option<Date> {
    // Tokens: runs of letters or digits, keeping the separator that follows
    // each so that `2024-01-02` and `01/02/2024` are recognised.
    let mut tokens: Vec<(String, char)> = Vec::new();
    let mut cur = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        let same_kind = cur.chars().next().is_none_or(|p| p.is_ascii_digit() == c.is_ascii_digit());
        if c.is_ascii_alphanumeric() && same_kind {
            cur.push(c);
            continue;
        }
        if !cur.is_empty() {
            tokens.push((std::mem::take(&mut cur), c));
        }
        if c.is_ascii_alphanumeric() {
            cur.push(c);
        }
    }
    let num = |s: &str| -> Option<u32> { s.bytes().all(|b| b.is_ascii_digit()).then(|| s.parse().ok()).flatten() };
    for i in 0..tokens.len() {
        let (t, sep) = (&tokens[i].0, tokens[i].1);
        // Numeric forms: three numbers joined by `-` or `/`.
        if let (Some(a), Some((t2, sep2)), Some((t3, _))) = (num(t), tokens.get(i + 1), tokens.get(i + 2))
            && (sep == '-' || sep == '/')
            && *sep2 == sep
            && let (Some(b), Some(c)) = (num(t2), num(t3))
        {
            let found = if t.len() == 4 {
                Date::new(a as i32, b as u8, c as u8)
            } else if t3.len() == 4 && a > 12 {
                Date::new(c as i32, b as u8, a as u8)
            } else if t3.len() == 4 {
                Date::new(c as i32, a as u8, b as u8)
            } else {
                None
            };
            if found.is_some() {
                return found;
            }
        }
        // Month-name forms.
        if let Some(m) = month_from_word(t) {
            let next = tokens.get(i + 1).and_then(|(s, _)| num(s));
            let after = tokens.get(i + 2).and_then(|(s, _)| num(s));
            let before = i.checked_sub(1).and_then(|j| num(&tokens[j].0));
            let (day, year) = match (before, next, after) {
                (_, Some(d), Some(y)) if d <= 31 && y >= 1000 => (d, y),
                (Some(d), Some(y), _) if d <= 31 && y >= 1000 => (d, y),
                _ => continue,
            };
            if let Some(d) = Date::new(year as i32, m, day as u8) {
                return Some(d);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_of_year_round_trips() {
        for y in [2023, 2024] {
            for n in 0..Date::days_in_year(y) {
                assert_eq!(Date::from_day_of_year(y, n).day_of_year(), n);
            }
        }
        assert_eq!(Date::from_day_of_year(2024, 59).to_string(), "Feb 29, 2024");
        assert_eq!(Date::from_day_of_year(2024, 365).to_string(), "Dec 31, 2024");
    }

    #[test]
    fn parses_many_formats() {
        let want = Date::new(2024, 3, 5).unwrap();
        for s in [
            "Mar 05, 2024",
            "March 5, 2024",
            "5 March 2024",
            "05 Mar 2024",
            "2024-03-05",
            "2024/03/05",
            "03/05/2024",
            "The answer is: Mar 5 2024.",
            "Date: Mar 05, 2024 ",
        ] {
            assert_eq!(parse_date(s), Some(want), "{s:?}");
        }
        assert_eq!(parse_date("25/12/2024"), Date::new(2024, 12, 25));
        assert_eq!(parse_date("no date here, 2024"), None);
        assert_eq!(parse_date("Feb 30, 2024"), None);
        assert_eq!(parse_date("Marsh 5, 2024"), None);
    }
}
