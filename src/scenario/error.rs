//! Errors a test author reads: the file, line and column, and what is wrong.

use std::fmt;

/// A script that cannot be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl ScenarioError {
    /// An error about a file as a whole.
    pub fn plain(file: &str, message: impl Into<String>) -> Self {
        ScenarioError { file: file.to_string(), position: None, message: message.into() }
    }

    /// An error at a Rhai position (which may be `NONE`).
    pub fn at(file: &str, pos: rhai::Position, message: impl Into<String>) -> Self {
        let position = pos.line().map(|line| (line, pos.position().unwrap_or(1)));
        ScenarioError { file: file.to_string(), position, message: message.into() }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => write!(f, "{}:{line}:{column}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}
