//! Host tools: named async functions that model code calls like Python
//! functions. They run on the host, outside the sandbox.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use rlm_core::{JsonText, RequestMeta, ToolSpec};

use crate::error::BuildError;
use crate::observe::is_identifier;

/// Names a tool may not take: the REPL's own functions and Python keywords.
const RESERVED: &[&str] = &[
    "context",
    "llm_query",
    "llm_query_batched",
    "rlm_query",
    "rlm_query_batched",
    "llm_query_async",
    "llm_query_batched_async",
    "rlm_query_async",
    "rlm_query_batched_async",
    "budget",
    "FINAL",
    "FINAL_VAR",
    "SHOW_VARS",
    "answer",
    "history",
    "print",
    "Final",
    "final",
    "final_var",
    "Final_Var",
    "FinalVar",
];

const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
    "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

/// Who calls a tool, for the tool's own use.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ToolCall {
    /// The depth of the run whose code called it (0: the root).
    pub depth: u32,
    /// The request the run belongs to.
    pub meta: Arc<RequestMeta>,
}

impl ToolCall {
    /// A call from a run at `depth` of the request `meta`. The engine makes
    /// these; this is for calling a tool outside a run, as a tool crate's
    /// tests do.
    pub fn new(depth: u32, meta: Arc<RequestMeta>) -> Self {
        ToolCall { depth, meta }
    }
}

/// A function the host offers to model code.
pub trait Tool: Send + Sync {
    /// Its name, description and argument schema.
    fn spec(&self) -> &ToolSpec;

    /// Runs it. `args` is a JSON object matching the schema (as far as the
    /// model got it right); an `Err` message reaches model code as the text
    /// of an exception.
    fn call(&self, args: JsonText, call: ToolCall) -> BoxFuture<'static, Result<JsonText, String>>;
}

impl fmt::Debug for dyn Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tool").field("name", &self.spec().name).finish_non_exhaustive()
    }
}

/// Which runs see a tool, as `rlms` separates `custom_tools` and
/// `custom_sub_tools`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolScope {
    /// The root run only.
    Root,
    /// Sub-RLMs only.
    Sub,
    /// Every run.
    Both,
}

impl ToolScope {
    fn includes(self, depth: u32) -> bool {
        match self {
            ToolScope::Root => depth == 0,
            ToolScope::Sub => depth > 0,
            ToolScope::Both => true,
        }
    }
}

/// A tool made from a closure.
#[derive(Debug)]
pub struct FnTool<F> {
    spec: ToolSpec,
    f: F,
}

impl<F> FnTool<F>
where
    F: Fn(JsonText, ToolCall) -> BoxFuture<'static, Result<JsonText, String>> + Send + Sync,
{
    /// A tool named `name` with this description and JSON Schema of its
    /// arguments, answered by `f`.
    pub fn new(name: impl Into<String>, description: impl Into<String>, parameters: JsonText, f: F) -> Self {
        FnTool { spec: ToolSpec::new(name, description, parameters), f }
    }
}

impl<F> Tool for FnTool<F>
where
    F: Fn(JsonText, ToolCall) -> BoxFuture<'static, Result<JsonText, String>> + Send + Sync,
{
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call(&self, args: JsonText, call: ToolCall) -> BoxFuture<'static, Result<JsonText, String>> {
        (self.f)(args, call)
    }
}

/// The tools of an [`Rlm`](crate::Rlm), each with its scope.
#[derive(Clone, Default)]
pub(crate) struct Tools {
    entries: Vec<(Arc<dyn Tool>, ToolScope)>,
}

impl fmt::Debug for Tools {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.iter().map(|(t, s)| (&t.spec().name, s))).finish()
    }
}

/// Why `name` cannot name a tool in the REPL (not a Python identifier, a
/// keyword, taken by the REPL's own functions), or `None` when it can.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if !is_identifier(name) {
        return Some("a tool's name must be a Python identifier (letters, digits and _, not first a digit)");
    }
    let base = name.strip_suffix("_async").unwrap_or(name);
    if RESERVED.contains(&name) || RESERVED.contains(&base) || name.starts_with("context_") {
        return Some("the name is taken by the REPL's own functions");
    }
    if KEYWORDS.contains(&name) {
        return Some("the name is a Python keyword");
    }
    if name.ends_with("_async") {
        return Some("names ending in _async are taken by the async form of every tool");
    }
    None
}

impl Tools {
    /// Adds a tool, refusing names Python or the scaffold cannot take.
    pub(crate) fn add(&mut self, tool: Arc<dyn Tool>, scope: ToolScope) -> Result<(), BuildError> {
        let spec = tool.spec();
        let name = spec.name.clone();
        let refuse = |reason: String| Err(BuildError::Tool { name: name.clone(), reason });
        if let Some(reason) = name_problem(&name) {
            return refuse(reason.into());
        }
        let schema = spec.parameters.to_value();
        if !schema.is_object() || schema.get("properties").is_some_and(|p| !p.is_object()) {
            return refuse("its parameters must be a JSON Schema object with `properties`".into());
        }
        if self
            .entries
            .iter()
            .any(|(t, s)| t.spec().name == name && (*s == scope || *s == ToolScope::Both || scope == ToolScope::Both))
        {
            return refuse("a tool of that name is already registered".into());
        }
        self.entries.push((tool, scope));
        Ok(())
    }

    /// The tools a run at `depth` sees.
    pub(crate) fn at(&self, depth: u32) -> Vec<Arc<dyn Tool>> {
        self.entries.iter().filter(|(_, s)| s.includes(depth)).map(|(t, _)| t.clone()).collect()
    }

    pub(crate) fn find(&self, name: &str, depth: u32) -> Option<Arc<dyn Tool>> {
        self.entries.iter().find(|(t, s)| s.includes(depth) && t.spec().name == name).map(|(t, _)| t.clone())
    }
}
