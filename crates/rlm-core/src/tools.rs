//! Host tools: functions that run on the host and that model code calls like
//! Python functions.

use serde::Serialize;

use crate::json::JsonText;

/// What the model and the REPL know of a tool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ToolSpec {
    /// Its name: a Python identifier, and the name of the REPL function.
    pub name: String,
    /// What it does; becomes the function's docstring and its line in the
    /// prompt.
    pub description: String,
    /// A JSON Schema (`type: object`) of its arguments; its `properties` give
    /// the Python parameters, in order, and `required` which have no default.
    pub parameters: JsonText,
}

impl ToolSpec {
    /// A tool's spec.
    pub fn new(name: impl Into<String>, description: impl Into<String>, parameters: JsonText) -> Self {
        ToolSpec { name: name.into(), description: description.into(), parameters }
    }
}
