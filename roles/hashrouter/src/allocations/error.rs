//! Why an allocations file was refused, naming every bad entry.

use std::fmt;

/// One `[[allocation]]` entry, named by its id or, when it has none, by its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Position in the file, counting from 0 (`allocation[0]` is the first entry).
    pub index: usize,
    /// The entry's `id`, when it has a string one.
    pub id: Option<String>,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "allocation `{id}`"),
            None => write!(f, "allocation[{}] (no id)", self.index),
        }
    }
}

/// One problem with one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryError {
    pub entry: Entry,
    pub problem: String,
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.entry, self.problem)
    }
}

/// Why an allocations file was refused; the running allocations stay in force.
#[derive(Debug, thiserror::Error)]
pub enum AllocationError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("not valid TOML: {0}")]
    Syntax(#[from] toml::de::Error),
    /// The file's shape, outside any entry (an unknown top-level key, say).
    #[error("{0}")]
    Layout(String),
    #[error("{}", list(.0))]
    Invalid(Vec<EntryError>),
}

fn list(problems: &[EntryError]) -> String {
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    format!("invalid allocations: {}", lines.join("; "))
}

impl AllocationError {
    /// The per-entry problems (empty for a read, syntax or layout error).
    pub fn entry_errors(&self) -> &[EntryError] {
        match self {
            AllocationError::Invalid(problems) => problems,
            _ => &[],
        }
    }
}
