//! Printing guest output safely.

/// Makes untrusted guest text safe for a terminal: control characters other
/// than newline and tab (escape sequences above all) become visible `\xNN`
/// escapes instead of commands to the terminal.
pub fn neutralize(text: &str) -> std::borrow::Cow<'_, str> {
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
