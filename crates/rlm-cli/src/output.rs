//! Printing guest output safely.

use std::borrow::Cow;

use serde_json::Value;

/// `text` as it should go to a stream: escaped (see [`neutralize`]) when the
/// stream is a terminal, unchanged otherwise.
pub fn for_stream(text: &str, terminal: bool) -> Cow<'_, str> {
    if terminal { neutralize(text) } else { text.into() }
}

/// A JSON answer as text: a string as it is, any other value as JSON.
pub fn answer_text(answer: &Value) -> Cow<'_, str> {
    match answer {
        Value::String(s) => s.as_str().into(),
        other => other.to_string().into(),
    }
}

/// Makes untrusted guest text safe for a terminal: control characters other
/// than newline and tab (escape sequences above all) become visible `\xNN`
/// escapes instead of commands to the terminal.
pub fn neutralize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.into()
}

fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || matches!(c, '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {
    use super::neutralize;

    #[test]
    fn escapes_are_made_visible() {
        assert_eq!(neutralize("a\x1b[2Jb\n"), "a\\x1b[2Jb\n");
        assert_eq!(neutralize("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(neutralize("bell\x07"), "bell\\x07");
    }
}
