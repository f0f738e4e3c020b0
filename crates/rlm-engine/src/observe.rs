//! What the model is shown: the system prompts and every text the engine
//! adds to the conversation, from the templates in `prompts/`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use rlm_core::{CellOutcome, FunctionInfo, ToolSpec};

/// The prompts a run uses. The defaults are compiled in from `prompts/`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Prompts {
    /// System prompt of the root model. `{sub_context_chars}`, `{models}`,
    /// `{tools}` and `{helpers}` are filled in; sections for tools and
    /// helpers are appended when the prompt has no place for them.
    pub root: String,
    /// System prompt of every sub-RLM (same placeholders).
    pub child: String,
    /// The message that asks for an answer once the iterations run out.
    pub final_answer: String,
}

impl Default for Prompts {
    fn default() -> Self {
        Prompts {
            root: include_str!("../../../prompts/root.txt").to_owned(),
            child: include_str!("../../../prompts/child.txt").to_owned(),
            final_answer: include_str!("../../../prompts/final_answer.txt").to_owned(),
        }
    }
}

impl Prompts {
    /// The built-in prompts with the root and/or child prompt read from files.
    pub fn with_files(root: Option<&Path>, child: Option<&Path>) -> std::io::Result<Prompts> {
        let mut prompts = Prompts::default();
        if let Some(path) = root {
            prompts.root = std::fs::read_to_string(path)?;
        }
        if let Some(path) = child {
            prompts.child = std::fs::read_to_string(path)?;
        }
        Ok(prompts)
    }
}

/// The sections of `prompts/notices.txt`, parsed once.
fn notices() -> &'static HashMap<&'static str, &'static str> {
    static NOTICES: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    NOTICES.get_or_init(|| {
        let text = include_str!("../../../prompts/notices.txt");
        let mut map = HashMap::new();
        let mut current: Option<(&str, usize)> = None;
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            let trimmed = line.trim_end();
            if let Some(name) = trimmed.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
                if let Some((prev, start)) = current {
                    map.insert(prev, text[start..offset].trim_matches('\n'));
                }
                current = Some((name, offset + line.len()));
            } else if current.is_none() && !trimmed.starts_with('#') && !trimmed.is_empty() {
                panic!("prompts/notices.txt: text before the first [section]: {trimmed}");
            }
            offset += line.len();
        }
        if let Some((prev, start)) = current {
            map.insert(prev, text[start..].trim_matches('\n'));
        }
        map
    })
}

/// The notice `name` with its `{placeholders}` filled in.
pub(crate) fn notice(name: &str, values: &[(&str, &str)]) -> String {
    let template = notices().get(name).unwrap_or_else(|| panic!("prompts/notices.txt has no [{name}]"));
    fill(template, values)
}

/// `template` with each `{key}` of `values` replaced, in one pass: a value
/// is never searched for placeholders itself (a tool's description or an
/// error message may hold `{helpers}`), and the template is read once
/// rather than once a key.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + values.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let found = values.iter().find(|(key, _)| after.strip_prefix(key).is_some_and(|r| r.starts_with('}')));
        match found {
            Some((key, value)) => {
                out.push_str(value);
                rest = &after[key.len() + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// What the system prompt lists besides the scaffold.
pub(crate) struct PromptParts<'a> {
    pub(crate) sub_context_chars: usize,
    pub(crate) models: &'a [String],
    pub(crate) tools: &'a [ToolSpec],
    pub(crate) functions: &'a [FunctionInfo],
}

/// A system prompt template with its placeholders filled in.
pub(crate) fn system_prompt(template: &str, parts: &PromptParts<'_>) -> String {
    let models = if parts.models.len() > 1 {
        format!("\n- Models you may name with `model=`: {}.", parts.models.join(", "))
    } else {
        String::new()
    };
    let tools: String = parts
        .tools
        .iter()
        .map(|t| {
            let signature = tool_signature(t);
            format!("\n- `{}{signature}`: {} (also `{}_async` for async code)", t.name, t.description.trim(), t.name)
        })
        .collect();
    let tools = if tools.is_empty() { tools } else { format!("\n\nTools (they run on the host):{tools}") };
    let helpers: String = parts
        .functions
        .iter()
        .map(|f| {
            let doc = if f.doc.is_empty() { String::new() } else { format!(": {}", f.doc) };
            format!("\n- `{}{}`{doc}", f.name, f.signature)
        })
        .collect();
    let helpers = if helpers.is_empty() {
        helpers
    } else {
        format!("\n\nHelper functions already defined in the REPL:{helpers}")
    };
    let sub_context_chars = parts.sub_context_chars.to_string();
    let mut values = vec![("sub_context_chars", sub_context_chars.as_str()), ("models", models.as_str())];
    // A template without the placeholder of a section gets it at the end.
    let mut appended = String::new();
    for (key, section) in [("tools", &tools), ("helpers", &helpers)] {
        if template.contains(&format!("{{{key}}}")) {
            values.push((key, section));
        } else {
            appended.push_str(section);
        }
    }
    let mut out = fill(template, &values);
    out.push_str(&appended);
    out
}

/// A tool's Python signature from its schema, as the guest defines it.
fn tool_signature(tool: &ToolSpec) -> String {
    let schema = tool.parameters.to_value();
    let required: Vec<&str> =
        schema["required"].as_array().map(|r| r.iter().filter_map(|v| v.as_str()).collect()).unwrap_or_default();
    let mut params: Vec<(bool, String)> = schema["properties"]
        .as_object()
        .map(|props| {
            props.keys().filter(|k| is_identifier(k)).map(|k| (required.contains(&k.as_str()), k.clone())).collect()
        })
        .unwrap_or_default();
    params.sort_by_key(|(req, _)| !req);
    let shown: Vec<String> = params.into_iter().map(|(req, k)| if req { k } else { format!("{k}=None") }).collect();
    format!("({})", shown.join(", "))
}

/// Whether `name` is a Python identifier (ASCII, which is all a tool or
/// helper name may use here).
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// How many changed variables an observation names.
const SHOWN_VARS: usize = 50;

/// Keeps the head and tail of `text` within `max` characters, with a marker
/// that says how many were cut.
pub(crate) fn truncate_middle(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let head: String = text.chars().take(max / 2).collect();
    let tail: String = text.chars().skip(count - (max - max / 2)).collect();
    format!("{head}\n[... {} characters cut ...]\n{tail}", count - max)
}

/// What the model sees of one block's run; every part is bounded.
pub(crate) fn observation(index: usize, outcome: &CellOutcome, max_chars: usize, repeated_silence: bool) -> String {
    let mut text = format!("Block {index}");
    match &outcome.error {
        None => text.push_str(" ran."),
        Some(e) => text.push_str(&format!(" stopped early ({}).", e.kind)),
    }
    if !outcome.stdout.is_empty() {
        text.push_str("\nstdout:\n");
        text.push_str(&truncate_middle(&outcome.stdout, max_chars));
    }
    if !outcome.stderr.is_empty() {
        text.push_str("\nstderr:\n");
        text.push_str(&truncate_middle(&outcome.stderr, max_chars));
    } else if let Some(e) = outcome.error.as_ref().filter(|e| e.kind.is_limit()) {
        text.push('\n');
        text.push_str(&truncate_middle(&e.message, max_chars));
    }
    if let Some(display) = &outcome.display {
        text.push_str("\nvalue of the last expression:\n");
        text.push_str(&truncate_middle(display, max_chars.min(2000)));
    }
    if !outcome.changed_vars.is_empty() {
        let names: Vec<&str> = outcome.changed_vars.iter().take(SHOWN_VARS).map(|v| v.name.as_str()).collect();
        let more = outcome.changed_vars.len().saturating_sub(SHOWN_VARS) as u64 + outcome.changed_vars_omitted;
        let more = if more > 0 { format!(" ... and {more} more") } else { String::new() };
        text.push_str(&format!("\nVariables changed: {}{more}", names.join(", ")));
    }
    for note in &outcome.notices {
        text.push_str("\nNote: ");
        text.push_str(&truncate_middle(note, 1000));
    }
    if is_silent(outcome) && outcome.final_value.is_none() {
        text.push('\n');
        text.push_str(&notice(if repeated_silence { "repeated_block" } else { "silent_block" }, &[]));
    }
    text
}

/// Whether an outcome showed the model nothing at all.
pub(crate) fn is_silent(outcome: &CellOutcome) -> bool {
    outcome.error.is_none()
        && outcome.stdout.is_empty()
        && outcome.stderr.is_empty()
        && outcome.display.is_none()
        && outcome.changed_vars.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rlm_core::JsonText;

    #[test]
    fn every_notice_is_there_and_filled() {
        for name in [
            "first",
            "first_with_history",
            "continue",
            "no_code",
            "empty_reply",
            "silent_block",
            "repeated_block",
            "unknown_var",
            "state_lost",
        ] {
            assert!(!notice(name, &[]).is_empty(), "{name}");
        }
        let text = notice("continue", &[("feedback", "F"), ("remaining", "3"), ("query", "Q")]);
        assert_eq!(text, "F\n\n3 iteration(s) left. Continue on the query: Q");
    }

    #[test]
    fn truncation_keeps_head_and_tail_and_counts_the_cut() {
        assert_eq!(truncate_middle("short", 10), "short");
        let text: String = ('a'..='z').collect();
        assert_eq!(truncate_middle(&text, 10), "abcde\n[... 16 characters cut ...]\nvwxyz");
    }

    #[test]
    fn tools_and_helpers_are_listed() {
        let tool = ToolSpec::new(
            "search",
            "Finds documents.",
            JsonText::parse(r#"{"type":"object","properties":{"limit":{},"query":{}},"required":["query"]}"#, 1000)
                .unwrap(),
        );
        let helper = FunctionInfo::new("parse_row", "(line)", "Splits a row.");
        let parts = PromptParts { sub_context_chars: 1000, models: &[], tools: &[tool], functions: &[helper] };
        let prompt = system_prompt("limit {sub_context_chars}.{tools}", &parts);
        assert!(prompt.starts_with("limit 1000.\n\nTools"), "{prompt}");
        assert!(prompt.contains("`search(query, limit=None)`: Finds documents."), "{prompt}");
        assert!(prompt.ends_with("- `parse_row(line)`: Splits a row."), "{prompt}");
    }

    #[test]
    fn a_placeholder_inside_a_filled_in_value_stays_as_written() {
        let tool = ToolSpec::new("t", "Lists {helpers} and {models}.", JsonText::parse("{}", 100).unwrap());
        let helper = FunctionInfo::new("h", "()", "Helps.");
        let parts = PromptParts { sub_context_chars: 7, models: &[], tools: &[tool], functions: &[helper] };
        let prompt = system_prompt("{sub_context_chars} {unknown} {tools}{helpers} {", &parts);
        assert!(prompt.starts_with("7 {unknown} \n\nTools"), "{prompt}");
        assert!(prompt.contains(": Lists {helpers} and {models}. (also"), "{prompt}");
        assert!(prompt.ends_with("- `h()`: Helps. {"), "{prompt}");
        assert_eq!(fill("{a}{b}{a", &[("a", "{b}"), ("b", "x")]), "{b}x{a");
    }
}
