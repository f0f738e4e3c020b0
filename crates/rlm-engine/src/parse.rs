//! Reading a model reply: its ```` ```repl ```` blocks and a text-level
//! `FINAL(...)` / `FINAL_VAR(...)` line.

use serde_json::Value;

/// What a reply asked for, apart from its code.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum TextFinal {
    /// `FINAL(answer)`: the answer, parsed as JSON when it is a JSON literal
    /// (`42`, `"text"`, `[1, 2]`), otherwise the raw text.
    Value(Value),
    /// `FINAL_VAR(name)`: a REPL variable to return.
    Var(String),
}

/// A parsed reply.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ParsedReply {
    /// The `repl` blocks, in order.
    pub(crate) blocks: Vec<String>,
    /// The first `FINAL`/`FINAL_VAR` line outside any fence.
    pub(crate) final_answer: Option<TextFinal>,
}

/// Splits a reply into `repl` blocks and finds a text-level final answer.
///
/// A block opens with a line that is exactly ```` ```repl ```` (surrounding
/// spaces allowed) and closes at the next line that is exactly ```` ``` ````.
/// Fences of any other kind are skipped, code and all. A final answer counts
/// only on a line of its own, outside any fence, that starts with `FINAL(` or
/// `FINAL_VAR(`; a mention inside prose does not.
pub(crate) fn parse_reply(reply: &str) -> ParsedReply {
    let mut parsed = ParsedReply::default();
    let lines: Vec<&str> = reply.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if let Some(tag) = line.strip_prefix("```") {
            let is_repl = tag.trim() == "repl";
            let start = i + 1;
            let mut end = start;
            while end < lines.len() && lines[end].trim() != "```" {
                end += 1;
            }
            if is_repl && end > start {
                parsed.blocks.push(lines[start..end].join("\n"));
            }
            i = end + 1;
            continue;
        }
        if parsed.final_answer.is_none() {
            parsed.final_answer = text_final(&lines[i..]);
        }
        i += 1;
    }
    parsed
}

/// A final answer starting on the first of `lines`, if there is one. The
/// answer may run over several lines, up to the last closing parenthesis.
fn text_final(lines: &[&str]) -> Option<TextFinal> {
    let first = lines[0].trim_start();
    if let Some(rest) = first.strip_prefix("FINAL_VAR(") {
        let name = rest.rsplit_once(')').map_or(rest, |(inner, _)| inner);
        let name = name.trim().trim_matches(|c| c == '"' || c == '\'').trim();
        return (!name.is_empty()).then(|| TextFinal::Var(name.to_owned()));
    }
    let rest = first.strip_prefix("FINAL(")?;
    let mut text = rest.to_owned();
    for line in &lines[1..] {
        if line.trim_start().starts_with("```") {
            break;
        }
        text.push('\n');
        text.push_str(line);
    }
    let inner = match text.rfind(')') {
        Some(end) => &text[..end],
        None => text.as_str(),
    };
    let inner = inner.trim();
    Some(TextFinal::Value(serde_json::from_str(inner).unwrap_or_else(|_| Value::String(inner.to_owned()))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blocks_are_taken_in_order_and_other_fences_ignored() {
        let reply = "Plan.\n```repl\nx = 1\n```\n```python\nnot_run()\n```\ntext\n  ```repl  \ny = 2\nprint(y)\n```\n";
        let parsed = parse_reply(reply);
        assert_eq!(parsed.blocks, vec!["x = 1", "y = 2\nprint(y)"]);
        assert_eq!(parsed.final_answer, None);
    }

    #[test]
    fn an_unclosed_block_runs_to_the_end() {
        assert_eq!(parse_reply("```repl\nprint(1)").blocks, vec!["print(1)"]);
    }

    #[test]
    fn final_on_its_own_line_counts() {
        assert_eq!(parse_reply("Done.\nFINAL(42)").final_answer, Some(TextFinal::Value(json!(42))));
        assert_eq!(parse_reply("FINAL(\"Paris\")").final_answer, Some(TextFinal::Value(json!("Paris"))));
        assert_eq!(
            parse_reply("FINAL(The answer is 7 (seven).)").final_answer,
            Some(TextFinal::Value(json!("The answer is 7 (seven).")))
        );
        assert_eq!(parse_reply("FINAL(line one\nline two)").final_answer, Some(TextFinal::Value(json!("line one\nline two"))));
        assert_eq!(parse_reply("  FINAL_VAR(result)").final_answer, Some(TextFinal::Var("result".into())));
        assert_eq!(parse_reply("FINAL_VAR('result')").final_answer, Some(TextFinal::Var("result".into())));
    }

    #[test]
    fn final_inside_prose_or_code_does_not_count() {
        assert_eq!(parse_reply("I will call FINAL(42) when done.").final_answer, None);
        assert_eq!(parse_reply("```python\nFINAL(1)\n```").final_answer, None);
        let parsed = parse_reply("```repl\nFINAL(1)\n```");
        assert_eq!(parsed.final_answer, None);
        assert_eq!(parsed.blocks, vec!["FINAL(1)"]);
    }
}
