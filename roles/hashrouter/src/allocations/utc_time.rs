//! A strict reader for the one timestamp form allocation files use: `YYYY-MM-DDTHH:MM:SSZ`.
//!
//! Only UTC with whole seconds is accepted, so a time in a file means one thing to every reader;
//! offsets, fractions and lower-case separators are refused rather than interpreted.

/// Unix seconds of an RFC 3339 UTC time written exactly as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn parse_utc(text: &str) -> Result<u64, String> {
    let form = || format!("`{text}` is not a UTC time of the form YYYY-MM-DDTHH:MM:SSZ");
    let bytes = text.as_bytes();
    if bytes.len() != 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || bytes[10] != b'T'
        || bytes[13] != b':'
        || bytes[16] != b':'
        || bytes[19] != b'Z'
    {
        return Err(form());
    }
    let number = |from: usize, to: usize| -> Result<u64, String> {
        let digits = &bytes[from..to];
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(form());
        }
        Ok(digits.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
    };
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    if year < 1970 {
        return Err(format!("`{text}` is before 1970"));
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(format!("`{text}` is not a calendar date"));
    }
    // No leap seconds: unix time has none either.
    if hour > 23 || minute > 59 || second > 59 {
        return Err(format!("`{text}` is not a time of day"));
    }
    Ok(days_since_epoch(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second)
}

fn is_leap(year: u64) -> bool {
    // Written without `u64::is_multiple_of`, which is newer than the workspace's rust-version.
    let divisible = |n: u64| year / n * n == year;
    (divisible(4) && !divisible(100)) || divisible(400)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a valid date at or after it.
fn days_since_epoch(year: u64, month: u64, day: u64) -> u64 {
    // Whole years, then whole months of this year, then the day.
    let leap_days_before = |y: u64| (y - 1) / 4 - (y - 1) / 100 + (y - 1) / 400;
    let years = (year - 1970) * 365 + leap_days_before(year) - leap_days_before(1970);
    let months: u64 = (1..month).map(|m| days_in_month(year, m)).sum();
    years + months + day - 1
}

#[cfg(test)]
mod tests {
    use super::parse_utc;

    #[test]
    fn known_instants() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_utc("2000-01-01T00:00:00Z"), Ok(946_684_800));
        // 2000 is a leap year (divisible by 400), 2100 is not (divisible by 100).
        assert_eq!(parse_utc("2000-02-29T12:00:00Z"), Ok(951_825_600));
        assert_eq!(parse_utc("2000-03-01T00:00:00Z"), Ok(951_868_800));
        assert_eq!(parse_utc("2026-11-24T00:00:00Z"), Ok(1_795_478_400));
        assert_eq!(parse_utc("2038-01-19T03:14:08Z"), Ok(1 << 31));
        assert_eq!(parse_utc("2100-03-01T00:00:00Z"), Ok(4_107_542_400));
        assert_eq!(parse_utc("9999-12-31T23:59:59Z"), Ok(253_402_300_799));
    }

    #[test]
    fn consecutive_days_are_86400_seconds_apart_across_every_month_end() {
        let mut previous = None;
        for year in 1970..=2100 {
            for month in 1..=12u64 {
                for day in 1..=super::days_in_month(year, month) {
                    let t = parse_utc(&format!("{year:04}-{month:02}-{day:02}T00:00:00Z")).unwrap();
                    let expected = previous.map_or(0, |p| p + 86_400);
                    assert_eq!(t, expected, "{year}-{month}-{day}");
                    previous = Some(t);
                }
            }
        }
    }

    #[test]
    fn other_forms_and_impossible_dates_are_refused() {
        for text in [
            "",
            "2026-11-24",
            "2026-11-24T00:00:00",
            "2026-11-24T00:00:00+00:00",
            "2026-11-24T00:00:00.5Z",
            "2026-11-24 00:00:00Z",
            "2026-11-24t00:00:00z",
            "2026-1-24T00:00:00Z",
            "+026-11-24T00:00:00Z",
            "2026-11-24T0a:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-11-00T00:00:00Z",
            "2026-11-31T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2026-11-24T24:00:00Z",
            "2026-11-24T23:60:00Z",
            "2026-12-31T23:59:60Z",
            "1969-12-31T23:59:59Z",
            "２026-11-24T00:00:00Z",
        ] {
            assert!(parse_utc(text).is_err(), "{text} accepted");
        }
        assert!(parse_utc("2026-11-24T00:00:00+01:00")
            .unwrap_err()
            .contains("YYYY-MM-DDTHH:MM:SSZ"));
    }
}
