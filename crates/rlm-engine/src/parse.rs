//! Reading a model reply as real models write it: which code blocks run, a
//! text `FINAL(...)`, and what to tell the model about the rest.
//!
//! - Reasoning is never run: `<think>`/`<thinking>`/`<reasoning>` blocks
//!   (and a reply that only has the closing `</think>`) are dropped first.
//! - Code runs from fences tagged `repl`, in any case, opened with ```` ``` ````
//!   or `~~~`. Only when a reply has no `repl` block do `python`/`py` blocks
//!   run instead (with a note to use `repl`). Other fences never run.
//! - A reply cut off by the token limit does not run its unfinished block.
//! - A text final answer is a line starting with `FINAL(` or `FINAL_VAR(`
//!   (also `Final(`, `final(`, `final_var(`) outside any fence; its argument
//!   ends at the matching parenthesis, strings and nesting respected, and is
//!   text, as in `rlms`. `FINAL_VAR` wins over `FINAL`, as in `rlms`.

use std::borrow::Cow;

use crate::observe::notice;

/// What a reply asked for, apart from its code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TextFinal {
    /// `FINAL(answer)`: the answer, as text.
    Text(String),
    /// `FINAL_VAR(name)`: a REPL variable to return.
    Var(String),
}

/// A parsed reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ParsedReply {
    /// The code blocks to run, in order.
    pub(crate) blocks: Vec<String>,
    /// The text-level final answer, if any.
    pub(crate) final_answer: Option<TextFinal>,
    /// What the model is told about the reply: code not run and why.
    pub(crate) notes: Vec<String>,
}

#[derive(Debug)]
struct Fence<'a> {
    tag: Cow<'a, str>,
    code: String,
    closed: bool,
}

/// Drops reasoning blocks: they are never run.
pub(crate) fn strip_reasoning(reply: &str) -> Cow<'_, str> {
    const TAGS: [(&str, &str); 4] = [
        ("<think>", "</think>"),
        ("<thinking>", "</thinking>"),
        ("<reasoning>", "</reasoning>"),
        ("<|begin_of_thought|>", "<|end_of_thought|>"),
    ];
    let mut text = Cow::Borrowed(reply);
    for (open, close) in TAGS {
        // A server that strips the opening tag leaves only `...</think>`.
        if !text.contains(open)
            && let Some(end) = text.find(close)
        {
            text = Cow::Owned(text[end + close.len()..].to_owned());
        }
        while let Some(start) = text.find(open) {
            let rest = &text[start + open.len()..];
            let tail = rest.find(close).map_or("", |end| &rest[end + close.len()..]);
            text = Cow::Owned(format!("{}{}", &text[..start], tail));
        }
    }
    text
}

fn fence_opener(line: &str) -> Option<(char, usize, &str)> {
    let trimmed = line.trim_start();
    let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let count = trimmed.chars().take_while(|c| *c == marker).count();
    if count < 3 {
        return None;
    }
    let info = &trimmed[count..];
    if marker == '`' && info.contains('`') {
        return None;
    }
    Some((marker, count, info.trim()))
}

fn is_closer(line: &str, marker: char, count: usize) -> bool {
    let trimmed = line.trim();
    trimmed.len() >= count && trimmed.chars().all(|c| c == marker)
}

/// Splits `reply` into fenced blocks and the prose between them.
fn fences(reply: &str) -> (Vec<Fence<'_>>, Vec<&str>) {
    let mut blocks = Vec::new();
    let mut prose = Vec::new();
    let mut lines = reply.lines();
    while let Some(line) = lines.next() {
        let Some((marker, count, info)) = fence_opener(line) else {
            prose.push(line);
            continue;
        };
        let tag = info.split_whitespace().next().unwrap_or("");
        let mut code = Vec::new();
        let mut closed = false;
        for inner in lines.by_ref() {
            if is_closer(inner, marker, count) {
                closed = true;
                break;
            }
            code.push(inner);
        }
        let tag = if tag.chars().any(|c| c.is_ascii_uppercase()) {
            Cow::Owned(tag.to_lowercase())
        } else {
            Cow::Borrowed(tag)
        };
        blocks.push(Fence { tag, code: code.join("\n"), closed });
    }
    (blocks, prose)
}

/// The confidence a reply states on a line `Confidence: X` (the last such
/// line; `X` from 0 to 1, or a percentage), if any.
pub(crate) fn confidence(reply: &str) -> Option<f64> {
    reply.lines().rev().find_map(|line| {
        let line = line.trim().trim_matches(|c: char| c == '*' || c == '_' || c == '`').trim();
        let (label, value) = line.split_once([':', '='])?;
        if !label.trim().trim_matches(|c: char| c == '*' || c == '_').eq_ignore_ascii_case("confidence") {
            return None;
        }
        let value = value.trim().trim_matches(|c: char| c == '*' || c == '_' || c == '`').trim();
        let (number, percent) = match value.strip_suffix('%') {
            Some(n) => (n.trim(), true),
            None => (value, false),
        };
        let x: f64 = number.parse().ok()?;
        let x = if percent || x > 1.0 { x / 100.0 } else { x };
        (x.is_finite() && (0.0..=1.0).contains(&x)).then_some(x)
    })
}

/// Reads a reply. `cut_off` says the model hit its token limit.
pub(crate) fn parse_reply(reply: &str, cut_off: bool) -> ParsedReply {
    let text = strip_reasoning(reply);
    let (mut all, prose) = fences(&text);
    let mut parsed = ParsedReply::default();
    if cut_off {
        if all.last().is_some_and(|f| !f.closed) {
            all.pop();
            parsed.notes.push(notice("cut_off_block", &[]));
        } else {
            parsed.notes.push(notice("cut_off", &[]));
        }
    }
    let has_repl = all.iter().any(|f| f.tag == "repl");
    let is_python = |tag: &str| matches!(tag, "python" | "py" | "python3");
    for fence in &all {
        let runs = fence.tag == "repl" || (!has_repl && is_python(&fence.tag));
        if runs {
            if !fence.code.trim().is_empty() {
                parsed.blocks.push(fence.code.clone());
            }
        } else if is_python(&fence.tag) {
            parsed.notes.push(notice("python_not_run", &[("tag", &fence.tag)]));
        } else if looks_like_code(&fence.code) {
            let tag = if fence.tag.is_empty() { "(no language tag)".to_owned() } else { format!("```{}", fence.tag) };
            parsed.notes.push(notice("fence_not_run", &[("tag", &tag)]));
        }
    }
    if !has_repl && all.iter().any(|f| is_python(&f.tag)) {
        parsed.notes.push(notice("python_ran", &[]));
    }
    parsed.final_answer = text_final(&prose.join("\n"));
    parsed
}

fn looks_like_code(code: &str) -> bool {
    ["FINAL", "print(", "llm_query", "context", "=", "import "].iter().any(|k| code.contains(k))
}

const FINAL_VAR_NAMES: [&str; 4] = ["FINAL_VAR(", "final_var(", "Final_Var(", "FinalVar("];
const FINAL_NAMES: [&str; 3] = ["FINAL(", "Final(", "final("];

/// The text final answer in `prose` (everything outside fences), if any.
fn text_final(prose: &str) -> Option<TextFinal> {
    let starts: Vec<usize> = line_starts(prose);
    let find = |names: &[&str]| {
        starts.iter().find_map(|&at| {
            let line = prose[at..].trim_start_matches([' ', '\t', '*', '>']);
            names.iter().find_map(|n| line.strip_prefix(n)).map(argument)
        })
    };
    if let Some(arg) = find(&FINAL_VAR_NAMES) {
        let name = arg.trim().trim_matches(|c| c == '"' || c == '\'').trim();
        return (!name.is_empty()).then(|| TextFinal::Var(name.to_owned()));
    }
    find(&FINAL_NAMES).map(|arg| TextFinal::Text(arg.trim().to_owned()))
}

fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).filter(|&i| i < text.len()).collect()
}

/// The argument of a call whose text (after the opening parenthesis) is
/// `rest`: up to the matching parenthesis, with brackets nested and strings
/// skipped; without one, up to the last `)` (or the end).
fn argument(rest: &str) -> &str {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' if depth == 0 => return &rest[..i],
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    rest.rfind(')').map_or(rest, |end| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_lines_are_read() {
        assert_eq!(confidence("```repl\nx = 1\n```\nConfidence: 0.8"), Some(0.8));
        assert_eq!(confidence("**Confidence:** 75%"), Some(0.75));
        assert_eq!(confidence("confidence = 90"), Some(0.9));
        assert_eq!(confidence("Confidence: 0.2\nthen\nConfidence: 0.6\n"), Some(0.6));
        assert_eq!(confidence("Confidence: high"), None);
        assert_eq!(confidence("Confidence: 250"), None);
        assert_eq!(confidence("no line"), None);
    }

    fn blocks(reply: &str) -> Vec<String> {
        parse_reply(reply, false).blocks
    }

    fn final_of(reply: &str) -> Option<TextFinal> {
        parse_reply(reply, false).final_answer
    }

    fn text(s: &str) -> Option<TextFinal> {
        Some(TextFinal::Text(s.to_owned()))
    }

    #[test]
    fn repl_blocks_run_in_order_and_python_only_without_them() {
        let reply = "Plan.\n```repl\nx = 1\n```\n```python\nnot_run()\n```\ntext\n  ```repl  \ny = 2\nprint(y)\n```\n";
        let parsed = parse_reply(reply, false);
        assert_eq!(parsed.blocks, vec!["x = 1", "y = 2\nprint(y)"]);
        assert!(parsed.notes[0].contains("```python was not run"), "{:?}", parsed.notes);
        assert_eq!(blocks("```Repl\na = 1\n```\n~~~repl\nb = 2\n~~~"), vec!["a = 1", "b = 2"]);
        let python = parse_reply("```python\nprint(1)\n```", false);
        assert_eq!(python.blocks, vec!["print(1)"]);
        assert!(python.notes[0].contains("fence code as ```repl"));
        let bash = parse_reply("```bash\nprint = 1\n```", false);
        assert!(bash.blocks.is_empty());
        assert!(bash.notes[0].contains("```bash was not run"));
    }

    #[test]
    fn rlms_cases_for_blocks() {
        assert_eq!(blocks("Here's some code:\n```repl\nx = 1 + 2\nprint(x)\n```\nDone."), vec!["x = 1 + 2\nprint(x)"]);
        assert!(blocks("Just plain text without any code blocks.").is_empty());
        let long = "```repl\ndef factorial(n):\n    if n <= 1:\n        return 1\n    return n * factorial(n - 1)\n\nresult = factorial(5)\nprint(result)\n```";
        assert!(blocks(long)[0].contains("return n * factorial(n - 1)"));
    }

    #[test]
    fn an_unclosed_block_runs_unless_the_reply_was_cut_off() {
        assert_eq!(blocks("```repl\nprint(1)"), vec!["print(1)"]);
        let cut = parse_reply("```repl\nx = 1\n```\n```repl\nprint(context[:10", true);
        assert_eq!(cut.blocks, vec!["x = 1"]);
        assert!(cut.notes[0].contains("cut off"), "{:?}", cut.notes);
    }

    #[test]
    fn reasoning_is_never_run() {
        let reply = "<think>\n```repl\nFINAL('from thought')\n```\n</think>\n```repl\nprint(1)\n```";
        assert_eq!(blocks(reply), vec!["print(1)"]);
        assert_eq!(blocks("I think...\n```repl\nbad()\n```\n</think>\nOK\n```repl\ngood()\n```"), vec!["good()"]);
        assert!(blocks("<think>\n```repl\nunfinished()\n```").is_empty());
        assert_eq!(final_of("<thinking>FINAL(1)</thinking>\nFINAL(2)"), text("2"));
    }

    #[test]
    fn final_ends_at_its_matching_parenthesis() {
        let reply = "FINAL(63)\n\nLet me know if you need anything else (for example a breakdown by line).";
        assert_eq!(final_of(reply), text("63"));
        assert_eq!(final_of("FINAL(func(arg1, arg2))"), text("func(arg1, arg2)"));
        assert_eq!(final_of("FINAL([1, 2, 3], (4, 5))"), text("[1, 2, 3], (4, 5)"));
        assert_eq!(final_of("FINAL(calculate(10, 20) + process(data))"), text("calculate(10, 20) + process(data)"));
        assert_eq!(final_of("FINAL(\"a ) in a string\") and more)"), text("\"a ) in a string\""));
        assert_eq!(final_of("FINAL(This is a\nmultiline answer)"), text("This is a\nmultiline answer"));
        assert_eq!(final_of("   FINAL(answer with spaces)"), text("answer with spaces"));
        assert_eq!(final_of("FINAL(unclosed"), text("unclosed"));
    }

    #[test]
    fn rlms_cases_for_final() {
        for (reply, expected) in [
            ("FINAL(42)", "42"),
            ("FINAL('hello world')", "'hello world'"),
            ("FINAL(\"test\")", "\"test\""),
            ("FINAL(123.45)", "123.45"),
            ("FINAL([1, 2, 3])", "[1, 2, 3]"),
            ("The answer is:\nFINAL(42)", "42"),
        ] {
            assert_eq!(final_of(reply), text(expected), "{reply}");
        }
        for (reply, name) in [
            ("FINAL_VAR(result)", "result"),
            ("FINAL_VAR('my_var')", "my_var"),
            ("FINAL_VAR(\"another_var\")", "another_var"),
        ] {
            assert_eq!(final_of(reply), Some(TextFinal::Var(name.into())));
        }
        assert_eq!(final_of("FINAL(direct)\nFINAL_VAR(result)"), Some(TextFinal::Var("result".into())));
        assert_eq!(final_of("The result is FINAL(42)"), None);
        assert_eq!(final_of("Still working on the problem..."), None);
    }

    #[test]
    fn other_spellings_and_markdown() {
        assert_eq!(final_of("Final(7)"), text("7"));
        assert_eq!(final_of("final_var(total)"), Some(TextFinal::Var("total".into())));
        assert_eq!(final_of("**FINAL(Paris)**"), text("Paris"));
        assert_eq!(final_of("```repl\nFINAL(1)\n```"), None, "code is run, not read");
    }
}
