//! Configuration problems and where they are: field paths and the file and line of each.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong with the configuration, printed as `file:line: field: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigProblem {
    /// The file at fault, or `environment variable VIGIL__…` for an override.
    pub file: String,
    /// 1-based line of the offending key, when known.
    pub line: Option<usize>,
    /// Dotted path of the field, e.g. `sla.targets.HIGH.response`, `nats.partitions`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}: {}", self.file, self.field, self.message),
            None => write!(f, "{}: {}: {}", self.file, self.field, self.message),
        }
    }
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Seg {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A field path inside one document, e.g. `sla.warn_at[1]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct FieldPath(pub Vec<Seg>);

impl FieldPath {
    /// The path of dotted keys, e.g. `"nats.url"`.
    pub fn keys(dotted: &str) -> FieldPath {
        FieldPath(
            dotted
                .split('.')
                .filter(|s| !s.is_empty())
                .map(|s| Seg::Key(s.to_string()))
                .collect(),
        )
    }

    /// This path with one more key.
    pub fn key(&self, key: &str) -> FieldPath {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.to_string()));
        p
    }

    /// This path without its last step.
    pub fn parent(&self) -> Option<FieldPath> {
        let (_, rest) = self.0.split_last()?;
        Some(FieldPath(rest.to_vec()))
    }

    /// Whether the path names the whole document.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Where the fields of one document came from: lines of its keys, and environment variables
/// that replaced some of them.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    /// The file, as it is shown in problems.
    pub file: PathBuf,
    /// Line of every key and array element in the file.
    pub lines: BTreeMap<FieldPath, usize>,
    /// Fields set by the environment: path → variable name.
    pub env: BTreeMap<FieldPath, String>,
}

impl Origins {
    /// Origins of a file with the given key lines.
    pub fn new(file: &Path, lines: BTreeMap<FieldPath, usize>) -> Origins {
        Origins {
            file: file.to_path_buf(),
            lines,
            env: BTreeMap::new(),
        }
    }

    /// Whether the file (not the environment) names this field or something inside it.
    pub fn names(&self, path: &FieldPath) -> bool {
        self.lines.contains_key(path)
    }

    /// A problem located at the field, or at its nearest ancestor the file or environment names.
    pub fn problem(&self, path: &FieldPath, message: impl Into<String>) -> ConfigProblem {
        let mut at = Some(path.clone());
        while let Some(p) = at {
            if let Some(var) = self.env.get(&p) {
                return ConfigProblem {
                    file: format!("environment variable {var}"),
                    line: None,
                    field: path.to_string(),
                    message: message.into(),
                };
            }
            if let Some(line) = self.lines.get(&p) {
                return ConfigProblem {
                    file: self.file.display().to_string(),
                    line: Some(*line),
                    field: path.to_string(),
                    message: message.into(),
                };
            }
            at = p.parent();
        }
        ConfigProblem {
            file: self.file.display().to_string(),
            line: None,
            field: path.to_string(),
            message: message.into(),
        }
    }
}
