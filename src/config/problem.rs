//! Configuration problems and where they are: the file and line of each field.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::setting::FieldPath;

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
