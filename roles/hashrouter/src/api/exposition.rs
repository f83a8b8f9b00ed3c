//! A writer of the Prometheus text exposition format, version 0.0.4: `# HELP` and `# TYPE` once
//! per family, then its samples as `name{label="value",...} value`, one a line.
//!
//! Hand-written rather than a metrics crate: the node already holds every figure in its
//! snapshot, so all `/metrics` needs is to print them, and printing straight into one `String`
//! keeps 10,000 devices cheap.

use std::fmt::Write;

/// The `Content-Type` of a text exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A family's Prometheus type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value that goes up and down.
    Gauge,
    /// A running total that only goes up (and back to zero when the node restarts); its name
    /// ends in `_total`.
    Counter,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// A metric family: one name, one meaning, the labels its samples carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    /// Every label a sample of the family carries, in the order written.
    pub labels: &'static [&'static str],
}

/// A sample's value: counts are written exactly, rates and work as floats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Int(u64),
    Float(f64),
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::Int(v)
    }
}

impl From<usize> for Value {
    fn from(v: usize) -> Value {
        Value::Int(v as u64)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(u64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}

/// Label pairs already escaped and joined (`a="x",b="y"`), so a set shared by many samples (a
/// device's identity) is escaped once.
#[derive(Debug, Clone, Default)]
pub struct Labels(String);

impl Labels {
    pub fn new() -> Labels {
        Labels::default()
    }

    /// Adds `name="value"`, escaping the value.
    pub fn with(mut self, name: &str, value: &str) -> Labels {
        if !self.0.is_empty() {
            self.0.push(',');
        }
        self.0.push_str(name);
        self.0.push_str("=\"");
        escape_label_value(&mut self.0, value);
        self.0.push('"');
        self
    }
}

/// The exposition being written.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    pub fn with_capacity(bytes: usize) -> Exposition {
        Exposition {
            out: String::with_capacity(bytes),
        }
    }

    /// Starts `family`: its `# HELP` and `# TYPE` lines. Its samples must follow before the next
    /// family starts.
    pub fn family(&mut self, family: &Family) {
        self.out.push_str("# HELP ");
        self.out.push_str(family.name);
        self.out.push(' ');
        escape_help(&mut self.out, family.help);
        self.out.push_str("\n# TYPE ");
        self.out.push_str(family.name);
        self.out.push(' ');
        self.out.push_str(family.kind.as_str());
        self.out.push('\n');
    }

    /// One sample of `family`: its shared `labels`, then `extra` pairs (escaped here).
    pub fn sample(
        &mut self,
        family: &Family,
        labels: &Labels,
        extra: &[(&str, &str)],
        value: impl Into<Value>,
    ) {
        self.out.push_str(family.name);
        if !labels.0.is_empty() || !extra.is_empty() {
            self.out.push('{');
            self.out.push_str(&labels.0);
            let mut first = labels.0.is_empty();
            for (name, value) in extra {
                if !first {
                    self.out.push(',');
                }
                first = false;
                self.out.push_str(name);
                self.out.push_str("=\"");
                escape_label_value(&mut self.out, value);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        write_value(&mut self.out, value.into());
        self.out.push('\n');
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// A label value with `\`, `"` and line feeds escaped, as the format requires.
fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// HELP text escapes only `\` and line feeds.
fn escape_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Floats in Go's `ParseFloat` syntax: `NaN`, `+Inf`, `-Inf`, else Rust's shortest round-trip
/// form (which switches to an exponent for very large and very small magnitudes).
fn write_value(out: &mut String, value: Value) {
    // Writing to a String cannot fail.
    let _ = match value {
        Value::Int(v) => write!(out, "{v}"),
        Value::Float(v) if v.is_nan() => write!(out, "NaN"),
        Value::Float(v) if v == f64::INFINITY => write!(out, "+Inf"),
        Value::Float(v) if v == f64::NEG_INFINITY => write!(out, "-Inf"),
        Value::Float(v) => write!(out, "{v:?}"),
    };
}

/// One sample line read back: what a scraper would make of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    pub name: String,
    /// Label pairs in the order written, values unescaped.
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl ParsedSample {
    /// The value of label `name`, if the sample has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a line is not a sample line of the format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("bad metric name")]
    Name,
    #[error("bad label list")]
    Labels,
    #[error("bad label value escape")]
    Escape,
    #[error("expected one space then the value")]
    Separator,
    #[error("bad value {0:?}")]
    Value(String),
}

/// Reads one sample line (`name{label="value",...} value`, no timestamp), the way Prometheus
/// reads the lines [`Exposition`] writes. For tests and tools that check an exposition.
pub fn parse_sample(line: &str) -> Result<ParsedSample, ParseError> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if !is_name(name) {
        return Err(ParseError::Name);
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        rest = after_brace;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            if !labels.is_empty() {
                rest = rest.strip_prefix(',').ok_or(ParseError::Labels)?;
            }
            let eq = rest.find('=').ok_or(ParseError::Labels)?;
            let label = &rest[..eq];
            if !is_name(label) || label.contains(':') {
                return Err(ParseError::Labels);
            }
            rest = rest[eq + 1..].strip_prefix('"').ok_or(ParseError::Labels)?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                match chars.next() {
                    None => return Err(ParseError::Labels),
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        _ => return Err(ParseError::Escape),
                    },
                    Some((_, '\n')) => return Err(ParseError::Escape),
                    Some((_, c)) => value.push(c),
                }
            };
            labels.push((label.to_string(), value));
            rest = &rest[end + 1..];
        }
    }
    let value = rest.strip_prefix(' ').ok_or(ParseError::Separator)?;
    let value = match value {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => match v.parse::<f64>() {
            Ok(x) if x.is_finite() => x,
            _ => return Err(ParseError::Value(v.to_string())),
        },
    };
    Ok(ParsedSample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: Family = Family {
        name: "x_total",
        help: "a \\ b\nc",
        kind: Kind::Counter,
        labels: &["a", "b"],
    };

    #[test]
    fn writes_help_type_and_escaped_samples() {
        let mut e = Exposition::default();
        e.family(&F);
        let labels = Labels::new().with("a", "q\"u\\o\nte");
        e.sample(&F, &labels, &[("b", "1")], 3u64);
        e.sample(&F, &Labels::new(), &[], f64::NAN);
        e.sample(&F, &Labels::new(), &[("b", "")], f64::INFINITY);
        e.sample(&F, &Labels::new(), &[], f64::NEG_INFINITY);
        e.sample(&F, &Labels::new(), &[], 1e21);
        e.sample(&F, &Labels::new(), &[], 0.25);
        e.sample(&F, &Labels::new(), &[], 2.0);
        assert_eq!(
            e.finish(),
            "# HELP x_total a \\\\ b\\nc\n# TYPE x_total counter\n\
             x_total{a=\"q\\\"u\\\\o\\nte\",b=\"1\"} 3\n\
             x_total NaN\n\
             x_total{b=\"\"} +Inf\n\
             x_total -Inf\n\
             x_total 1e21\n\
             x_total 0.25\n\
             x_total 2.0\n"
        );
    }

    #[test]
    fn samples_read_back_as_written() {
        let mut e = Exposition::default();
        let labels = Labels::new().with("a", "q\"u\\o\nte}, x=\"");
        e.sample(&F, &labels, &[("b", "")], f64::NAN);
        e.sample(&F, &Labels::new(), &[], f64::NEG_INFINITY);
        e.sample(&F, &Labels::new(), &[("b", "1")], 1.5e-9);
        let text = e.finish();
        let lines: Vec<ParsedSample> = text.lines().map(|l| parse_sample(l).unwrap()).collect();
        assert_eq!(lines[0].name, "x_total");
        assert_eq!(lines[0].label("a"), Some("q\"u\\o\nte}, x=\""));
        assert_eq!(lines[0].label("b"), Some(""));
        assert!(lines[0].value.is_nan());
        assert!(lines[1].labels.is_empty());
        assert_eq!(lines[1].value, f64::NEG_INFINITY);
        assert_eq!(lines[2].value, 1.5e-9);
    }

    #[test]
    fn malformed_lines_are_refused() {
        for (line, error) in [
            ("1x 1", ParseError::Name),
            ("x{a=\"1\" 1", ParseError::Labels),
            ("x{a=1} 1", ParseError::Labels),
            ("x{a=\"\\t\"} 1", ParseError::Escape),
            ("x{a=\"1\"}1", ParseError::Separator),
            ("x 1 1700000000", ParseError::Value("1 1700000000".into())),
            ("x inf", ParseError::Value("inf".into())),
            ("x", ParseError::Separator),
        ] {
            assert_eq!(parse_sample(line), Err(error), "{line}");
        }
    }
}
