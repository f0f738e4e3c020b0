//! Printing guest output safely, and the host's own lines so that guest
//! output cannot pass for them.

use std::borrow::Cow;
use std::io::IsTerminal;

use rlm_core::JsonText;

/// The prefixes the host's own lines start with. A guest line that starts
/// with one is shown with a leading `\`, so printing `FINAL: 42` from model
/// code never looks like the host reporting an answer.
const HOST_PREFIXES: [&str; 2] = ["FINAL:", "rlm-sandbox:"];

/// `text` as it should go to a stream: control characters and bidi
/// overrides made visible when the stream is a terminal, and lines that
/// look like host lines escaped always.
pub fn guest_text(text: &str, terminal: bool) -> Cow<'_, str> {
    let text = if terminal { neutralize(text) } else { Cow::Borrowed(text) };
    if !text.lines().any(|l| HOST_PREFIXES.iter().any(|p| l.trim_start_matches('\\').starts_with(p))) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 8);
    for line in text.split_inclusive('\n') {
        if HOST_PREFIXES.iter().any(|p| line.trim_start_matches('\\').starts_with(p)) {
            out.push('\\');
        }
        out.push_str(line);
    }
    Cow::Owned(out)
}

/// `text` made safe for a terminal when `terminal` (see [`neutralize`]);
/// unchanged when piped.
pub fn neutralize_for(text: &str, terminal: bool) -> Cow<'_, str> {
    if terminal { neutralize(text) } else { Cow::Borrowed(text) }
}

/// A JSON answer as text: a string as it is, any other value as JSON.
pub fn answer_text(answer: &JsonText) -> Cow<'_, str> {
    answer.as_text()
}

/// Makes untrusted text safe for a terminal: control characters other than
/// newline and tab (escape sequences above all) and bidirectional-text
/// controls become visible `\u{...}` escapes instead of commands to the
/// terminal or reorderings of what is shown.
pub fn neutralize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe(c) {
            let code = c as u32;
            if code < 0x100 {
                out.push_str(&format!("\\x{code:02x}"));
            } else {
                out.push_str(&format!("\\u{{{code:04x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    out.into()
}

fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// Styles for the host's own lines on a terminal (never when piped, or when
/// `NO_COLOR` is set).
#[derive(Clone, Copy, Debug)]
pub struct Style {
    on: bool,
}

impl Style {
    /// Colour when `stream` is a terminal and `NO_COLOR` is unset.
    pub fn for_stream(stream: &impl IsTerminal) -> Self {
        let no_color = std::env::var_os(rlm_core::env::NO_COLOR).is_some_and(|v| !v.is_empty());
        Style { on: stream.is_terminal() && !no_color }
    }

    fn wrap(&self, code: &str, text: &str) -> String {
        if self.on { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
    }

    /// A host line's prefix and headings.
    pub fn host(&self, text: &str) -> String {
        self.wrap("1;36", text)
    }

    /// Quieter text.
    pub fn dim(&self, text: &str) -> String {
        self.wrap("2", text)
    }

    /// Errors.
    pub fn error(&self, text: &str) -> String {
        self.wrap("1;31", text)
    }

    /// Success.
    pub fn good(&self, text: &str) -> String {
        self.wrap("1;32", text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_bidi_are_made_visible() {
        assert_eq!(neutralize("a\x1b[2Jb\n"), "a\\x1b[2Jb\n");
        assert_eq!(neutralize("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(neutralize("bell\x07"), "bell\\x07");
        assert_eq!(neutralize("abc\u{202e}def\u{2066}"), "abc\\u{202e}def\\u{2066}");
    }

    #[test]
    fn guest_lines_cannot_pass_for_host_lines() {
        assert_eq!(guest_text("FINAL: 42\nok\n", false), "\\FINAL: 42\nok\n");
        assert_eq!(guest_text("x\nrlm-sandbox: restarted\n", false), "x\n\\rlm-sandbox: restarted\n");
        assert_eq!(guest_text("\\FINAL: 1", false), "\\\\FINAL: 1");
        assert_eq!(guest_text("the FINAL: no\n", false), "the FINAL: no\n");
    }
}
