//! `config-examples/grafana-dashboard.json` imports as a Grafana dashboard (schema 39, the
//! Prometheus datasource as an input) and asks only for series `/metrics` writes: every metric
//! name in a query is one of the renderer's families, every label it filters or groups by is one
//! of that family's labels, and every fixed label value is one the node writes.

use std::collections::BTreeSet;
use std::path::Path;

use hashrouter::api::metrics::{Family, FAMILIES};
use serde_json::Value;

/// Labels Prometheus adds to every scraped series.
const TARGET_LABELS: &[&str] = &["instance", "job"];

/// The values the renderer writes for the labels with a fixed set of values.
const FIXED_VALUES: &[(&str, &[&str])] = &[
    ("measure", &["seen", "acked"]),
    ("window", &["10m", "1h", "contract"]),
    (
        "result",
        &[
            "forwarded",
            "acked",
            "rejected",
            "unanswered",
            "accepted",
            "stale",
        ],
    ),
    ("source", &["pool", "declared", "solo", "file", "chain"]),
    ("kind", &["sv1", "sv2_standard", "sv2_extended"]),
];

fn dashboard() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config-examples/grafana-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("the dashboard exists");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

/// Every string under a key named `key`, anywhere in `value`.
fn strings_under<'a>(value: &'a Value, key: &str, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k == key, v) {
                    (true, Value::String(s)) => found.push(s),
                    _ => strings_under(v, key, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| strings_under(v, key, found)),
        _ => {}
    }
}

fn family(name: &str) -> &'static Family {
    lookup(name).unwrap()
}

/// A PromQL expression cut into identifiers, strings and single punctuation characters
/// (enough to find metric names, their matchers and grouping clauses).
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Punct(char),
    Number,
}

fn tokens(expr: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() {
            // Numbers and durations (`5m`, `24h`).
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            out.push(Token::Number);
        } else if c == '"' {
            let mut s = String::new();
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                if let Some(c) = chars.get(i) {
                    s.push(*c);
                }
                i += 1;
            }
            ensure(i < chars.len(), || format!("unterminated string in {expr}"))?;
            i += 1;
            out.push(Token::Str(s));
        } else {
            out.push(Token::Punct(c));
            i += 1;
        }
    }
    Ok(out)
}

/// Fails with `message` unless `condition`.
fn ensure(condition: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(message())
    }
}

fn lookup(name: &str) -> Result<&'static Family, String> {
    FAMILIES
        .iter()
        .find(|f| f.name == name)
        .ok_or_else(|| format!("{name} is not a family /metrics renders"))
}

/// Words of PromQL the dashboard may use besides metric and label names.
const PROMQL_WORDS: &[&str] = &[
    "sum",
    "max",
    "min",
    "count",
    "topk",
    "rate",
    "increase",
    "vector",
    "or",
    "and",
    "unless",
    "group_left",
    "group_right",
];

/// Checks one query; returns the families it reads.
fn check_expr(expr: &str) -> Result<BTreeSet<&'static str>, String> {
    let tokens = tokens(expr)?;
    let mut families = BTreeSet::new();
    // Labels named in grouping and matching clauses, checked once the families are known.
    let mut grouped = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Ident(name) if name.starts_with("hashrouter_") => {
                let f = lookup(name)?;
                families.insert(f.name);
                if tokens.get(i + 1) == Some(&Token::Punct('{')) {
                    i = check_matchers(expr, f, &tokens, i + 2)?;
                }
            }
            Token::Ident(word)
                if ["by", "without", "on", "ignoring"].contains(&word.as_str())
                    && tokens.get(i + 1) == Some(&Token::Punct('(')) =>
            {
                i += 2;
                loop {
                    match tokens.get(i) {
                        Some(Token::Punct(')')) => break,
                        Some(Token::Ident(label)) => grouped.push(label.clone()),
                        Some(Token::Punct(',')) => {}
                        other => return Err(format!("{expr}: {other:?} in a label list")),
                    }
                    i += 1;
                }
            }
            Token::Ident(word) => ensure(PROMQL_WORDS.contains(&word.as_str()), || {
                format!("{expr}: unknown word {word} (a metric without the hashrouter_ prefix?)")
            })?,
            _ => {}
        }
        i += 1;
    }
    ensure(!families.is_empty(), || {
        format!("{expr} reads no hashrouter series")
    })?;
    for label in grouped {
        let known = TARGET_LABELS.contains(&label.as_str())
            || families
                .iter()
                .any(|f| lookup(f).is_ok_and(|f| f.labels.contains(&label.as_str())));
        ensure(known, || {
            format!("{expr}: no family it reads has label {label}")
        })?;
    }
    Ok(families)
}

/// Checks the matchers of `f{...}` from `i` (after the brace); returns the index of `}`.
fn check_matchers(expr: &str, f: &Family, tokens: &[Token], mut i: usize) -> Result<usize, String> {
    loop {
        match tokens.get(i) {
            Some(Token::Punct('}')) => return Ok(i),
            Some(Token::Punct(',')) => i += 1,
            Some(Token::Ident(label)) => {
                let known =
                    f.labels.contains(&label.as_str()) || TARGET_LABELS.contains(&label.as_str());
                ensure(known, || format!("{expr}: {} has no label {label}", f.name))?;
                i += 1;
                let mut op = String::new();
                while let Some(Token::Punct(c)) = tokens.get(i) {
                    op.push(*c);
                    i += 1;
                }
                let Some(Token::Str(value)) = tokens.get(i) else {
                    return Err(format!("{expr}: matcher on {label} has no string value"));
                };
                ensure(["=", "=~", "!=", "!~"].contains(&op.as_str()), || {
                    format!("{expr}: operator {op}")
                })?;
                if let (Some((_, values)), "=") =
                    (FIXED_VALUES.iter().find(|(l, _)| l == label), op.as_str())
                {
                    ensure(values.contains(&value.as_str()), || {
                        format!("{expr}: the node never writes {label}=\"{value}\"")
                    })?;
                }
                i += 1;
            }
            other => return Err(format!("{expr}: {other:?} in a matcher list")),
        }
    }
}

#[test]
fn the_dashboard_is_an_importable_grafana_dashboard() {
    let d = dashboard();
    assert_eq!(d["schemaVersion"], 39);
    let inputs = d["__inputs"].as_array().expect("__inputs");
    assert!(inputs.iter().any(|i| i["name"] == "DS_PROMETHEUS"
        && i["type"] == "datasource"
        && i["pluginId"] == "prometheus"));
    // Every datasource reference is the input (or Grafana's own, for annotations).
    let mut uids = Vec::new();
    strings_under(&d, "uid", &mut uids);
    let datasources: BTreeSet<&str> = uids.into_iter().filter(|u| *u != d["uid"]).collect();
    assert_eq!(
        datasources,
        BTreeSet::from(["${DS_PROMETHEUS}", "-- Grafana --"]),
        "datasource uids"
    );
    let variables = d["templating"]["list"].as_array().expect("templating");
    let route = variables
        .iter()
        .find(|v| v["name"] == "route")
        .expect("a route variable");
    let query = route["query"]["query"]
        .as_str()
        .expect("the route variable's query");
    assert!(query.starts_with("label_values(hashrouter_"), "{query}");
    let metric = query["label_values(".len()..]
        .split(',')
        .next()
        .unwrap()
        .trim();
    assert!(family(metric).labels.contains(&"route"));

    let panels = d["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    for p in panels {
        assert!(
            ids.insert(p["id"].as_u64().expect("panel id")),
            "duplicate panel id"
        );
        let pos = &p["gridPos"];
        let (x, w) = (pos["x"].as_u64().unwrap(), pos["w"].as_u64().unwrap());
        assert!(x + w <= 24, "{} is wider than the dashboard", p["title"]);
        if p["type"] != "row" {
            assert!(!p["targets"].as_array().expect("targets").is_empty());
        }
    }
}

#[test]
fn every_query_reads_series_that_metrics_renders() {
    let d = dashboard();
    let mut exprs = Vec::new();
    strings_under(&d, "expr", &mut exprs);
    assert!(exprs.len() >= 15, "{} queries", exprs.len());
    let mut read = BTreeSet::new();
    for expr in &exprs {
        read.extend(check_expr(expr).unwrap());
        // Panels scoped to the route variable keep to it on every series of the query.
        if expr.contains("$route") {
            assert!(
                !expr.contains("route=\"$route\""),
                "{expr}: a multi-value variable needs =~"
            );
        }
    }
    eprintln!(
        "{} queries read {} of {} families",
        exprs.len(),
        read.len(),
        FAMILIES.len()
    );
    // The panels the operator needs.
    for needed in [
        "hashrouter_route_allocated_hashrate",
        "hashrouter_route_delivered_hashrate",
        "hashrouter_allocation_delivered_hashrate",
        "hashrouter_route_owed_hashes",
        "hashrouter_upstream_connected",
        "hashrouter_upstream_on_backup",
        "hashrouter_route_shares_total",
        "hashrouter_device_shares_total",
        "hashrouter_devices_connected",
        "hashrouter_farm_hashrate",
        "hashrouter_chain_seconds_since_sync",
    ] {
        assert!(read.contains(needed), "no panel reads {needed}");
    }
    let titles: Vec<&str> = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    assert!(
        titles.iter().any(|t| t.starts_with("Top 20 devices")),
        "{titles:?}"
    );
}

#[test]
fn the_checker_catches_what_it_should() {
    for bad in [
        "hashrouter_route_alocated_hashrate",
        "sum by (worker) (hashrouter_route_devices)",
        "hashrouter_route_delivered_hashrate{window=\"5m\"}",
        "hashrouter_route_devices{device=\"1\"}",
        "rate(device_shares_total[5m])",
        "hashrouter_route_devices{route=~$route}",
        "sum by (route (hashrouter_route_devices)",
    ] {
        assert!(check_expr(bad).is_err(), "{bad} passed the check");
    }
    check_expr("sum by (instance, route) (rate(hashrouter_route_shares_total{route=~\"a|b\",result=\"acked\"}[5m]))").unwrap();
}
