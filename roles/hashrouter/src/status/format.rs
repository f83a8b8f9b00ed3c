//! How `hashrouter status` writes numbers, times and tables for a terminal.
//!
//! Everything shown comes from the API, and some of it from peers (worker names, pool error
//! messages), so text is cleaned of control characters before it reaches the terminal.

use chrono::TimeZone;

const SI_PREFIXES: [&str; 7] = ["", "k", "M", "G", "T", "P", "E"];

/// A hashrate with an SI prefix: `587.4 kH/s`, `110.0 TH/s`.
pub fn hashrate(hs: f64) -> String {
    if !hs.is_finite() {
        return "? H/s".to_string();
    }
    let sign = if hs < 0.0 { "-" } else { "" };
    let mut value = hs.abs();
    let mut prefix = 0;
    while value >= 999.95 && prefix + 1 < SI_PREFIXES.len() {
        value /= 1000.0;
        prefix += 1;
    }
    format!("{sign}{value:.1} {}H/s", SI_PREFIXES[prefix])
}

/// A share of a whole as a percentage, `-` when there is no whole.
pub fn percent(part: f64, whole: f64) -> String {
    if whole > 0.0 && part.is_finite() && whole.is_finite() {
        format!("{:.0}%", part / whole * 100.0)
    } else {
        "-".to_string()
    }
}

/// A length of time in its two largest units: `45 s`, `3 min 20 s`, `2 h 5 min`, `3 d 4 h`.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) if s == 0 => format!("{m} min"),
        (0, 0, _) => format!("{m} min {s} s"),
        (0, _, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

/// Seconds that may be negative (work owed, or ahead when negative): `1 min 5 s`, `-40 s`.
pub fn signed_duration(secs: f64) -> String {
    if !secs.is_finite() {
        return "?".to_string();
    }
    let whole = secs.abs().round().min(u64::MAX as f64) as u64;
    match secs < 0.0 && whole > 0 {
        true => format!("-{}", duration(whole)),
        false => duration(whole),
    }
}

/// A difficulty: plain decimals when readable, scientific notation when tiny.
pub fn difficulty(d: f64) -> String {
    if d == 0.0 || (0.01..1e9).contains(&d.abs()) {
        let text = format!("{d:.2}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        text.to_string()
    } else {
        format!("{d:.2e}")
    }
}

/// A unix time in the local time zone, `2024-05-01 12:00:01`; the raw number if it is not a
/// time the calendar can show.
pub fn local_time(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|secs| chrono::Local.timestamp_opt(secs, 0).single())
        .map_or_else(
            || format!("@{unix}"),
            |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
        )
}

/// `text` safe to print: control characters (a terminal's escape sequences among them)
/// replaced, and cut to `max` characters.
pub fn clean(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(max)
        .collect();
    if text.chars().count() > max && max > 0 {
        out.pop();
        out.push('…');
    }
    out
}

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A text table: a header row and rows of cells, columns as wide as their widest cell.
pub struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(columns: &[(&'static str, Align)]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are blank, extra ones dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let cell = |row: &[String], i: usize| row.get(i).cloned().unwrap_or_default();
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, (title, _))| {
                self.rows
                    .iter()
                    .map(|r| cell(r, i).chars().count())
                    .chain([title.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<String>| {
            let mut out = String::new();
            for (i, ((_, align), text)) in self.columns.iter().zip(cells).enumerate() {
                if i > 0 {
                    out.push_str("  ");
                }
                let pad = widths[i].saturating_sub(text.chars().count());
                match align {
                    Align::Left => {
                        out.push_str(&text);
                        out.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        out.extend(std::iter::repeat_n(' ', pad));
                        out.push_str(&text);
                    }
                }
            }
            out.trim_end().to_string() + "\n"
        };
        let mut out = line(self.columns.iter().map(|(t, _)| t.to_string()).collect());
        for row in &self.rows {
            out.push_str(&line(
                (0..self.columns.len()).map(|i| cell(row, i)).collect(),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashrates_take_si_prefixes() {
        assert_eq!(hashrate(587_400.0), "587.4 kH/s");
        assert_eq!(hashrate(110e12), "110.0 TH/s");
        assert_eq!(hashrate(0.0), "0.0 H/s");
        assert_eq!(hashrate(999.0), "999.0 H/s");
        assert_eq!(hashrate(999_960.0), "1.0 MH/s");
        assert_eq!(hashrate(1e30), "1000000000000.0 EH/s");
        assert_eq!(hashrate(f64::NAN), "? H/s");
    }

    #[test]
    fn durations_show_two_units() {
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(200), "3 min 20 s");
        assert_eq!(duration(180), "3 min");
        assert_eq!(duration(7_500), "2 h 5 min");
        assert_eq!(duration(3 * 86_400 + 4 * 3_600 + 5), "3 d 4 h");
        assert_eq!(signed_duration(-40.2), "-40 s");
        assert_eq!(signed_duration(65.0), "1 min 5 s");
        assert_eq!(signed_duration(-0.2), "0 s");
        assert_eq!(signed_duration(f64::INFINITY), "?");
    }

    #[test]
    fn numbers_and_text_are_printable() {
        assert_eq!(percent(98.0, 100.0), "98%");
        assert_eq!(percent(1.0, 0.0), "-");
        assert_eq!(difficulty(1024.0), "1024");
        assert_eq!(difficulty(0.5), "0.5");
        assert_eq!(difficulty(0.0001), "1.00e-4");
        assert_eq!(clean("rig\x1b[2J0", 20), "rig?[2J0");
        assert_eq!(clean("abcdef", 4), "abc…");
        assert_eq!(local_time(u64::MAX), format!("@{}", u64::MAX));
        assert_eq!(local_time(1_700_000_000).len(), "2023-11-14 22:13:20".len());
    }

    #[test]
    fn tables_align_their_columns() {
        let mut table = Table::new(&[("NAME", Align::Left), ("RATE", Align::Right)]);
        table.row(vec!["default".into(), "1.0 kH/s".into()]);
        table.row(vec!["b".into()]);
        assert_eq!(table.render(), "NAME         RATE\ndefault  1.0 kH/s\nb\n");
    }
}
