//! The page: the log's lines checked and embedded once as JSON, next to the
//! viewer's script and style, all in one file.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::de::IgnoredAny;
use sha2::{Digest, Sha256};

use crate::Error;

/// The page's skeleton, with `{{name}}` placeholders filled by [`render`].
const TEMPLATE: &str = include_str!("assets/page.html");
/// The viewer. Plain JavaScript with no build step, so the file is what runs.
pub(crate) const SCRIPT: &str = include_str!("assets/view.js");
/// The viewer's style.
pub(crate) const STYLE: &str = include_str!("assets/view.css");

/// Renders a trajectory log (JSON Lines) as one self-contained HTML page.
///
/// Each non-blank line must be a JSON object; blank lines are skipped. The
/// lines are embedded verbatim (key order and large integers kept) in a
/// `<script type="application/json">` element, with `<`, `>`, `&`, U+2028 and
/// U+2029 written as `\uXXXX` escapes so no log text can end that element
/// or be read as markup. The viewer script shows log text only through
/// `textContent`, and a Content-Security-Policy lets only the page's own
/// script and style run, with no network access.
///
/// # Errors
///
/// [`Error::EmptyLog`] when there is no line, [`Error::Json`] and
/// [`Error::NotAnObject`] naming the first bad line.
pub fn render(log: &str, title: &str) -> Result<String, Error> {
    let data = embed(log)?;
    let title = escape_html(title);
    let csp = content_security_policy();
    Ok(fill(TEMPLATE, |name| match name {
        "title" => &title,
        "csp" => &csp,
        "style" => STYLE,
        "data" => &data,
        "script" => SCRIPT,
        _ => unreachable!("unknown placeholder `{name}` in page.html"),
    }))
}

/// The page's Content-Security-Policy: nothing may load or run but the
/// page's own inline script and style, named by their hashes.
pub(crate) fn content_security_policy() -> String {
    format!(
        "default-src 'none'; script-src '{}'; style-src '{}'; base-uri 'none'; form-action 'none'",
        sha256_source(SCRIPT),
        sha256_source(STYLE)
    )
}

/// A CSP hash source (`sha256-<base64>`) for an inline element's text.
fn sha256_source(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(digest))
}

/// Checks the log's lines and joins them into one JSON array, escaped for an
/// HTML `<script>` element.
fn embed(log: &str) -> Result<String, Error> {
    // Editors on Windows may start the file with a byte-order mark.
    let log = log.strip_prefix('\u{feff}').unwrap_or(log);
    let mut data = String::with_capacity(log.len() + 2);
    data.push('[');
    let mut count = 0usize;
    for (index, line) in log.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        check_line(line, index + 1)?;
        if count > 0 {
            data.push(',');
        }
        push_escaped(&mut data, line);
        count += 1;
    }
    if count == 0 {
        return Err(Error::EmptyLog);
    }
    data.push(']');
    Ok(data)
}

/// Checks that a line is one JSON object, without building it: the line is
/// embedded as written, so parsing it into a `Value` would only cost memory.
fn check_line(line: &str, number: usize) -> Result<(), Error> {
    match serde_json::from_str::<BTreeMap<String, IgnoredAny>>(line) {
        Ok(_) => Ok(()),
        // With `IgnoredAny` values, a data error can only mean the top-level
        // value was not an object; anything else is bad JSON.
        Err(e) if e.is_data() => Err(Error::NotAnObject { line: number }),
        Err(source) => Err(Error::Json { line: number, source }),
    }
}

/// Appends valid JSON text with the characters that matter to an HTML
/// parser written as `\uXXXX` escapes.
///
/// Valid JSON has these characters only inside strings, and never right after
/// an unescaped backslash (`\<` is not a JSON escape), so each replacement is
/// a JSON escape meaning the same character. `<` covers `</script` and
/// `<!--`; U+2028 and U+2029 are escaped too, because older JavaScript
/// engines end a string at them.
fn push_escaped(out: &mut String, json: &str) {
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
}

/// Escapes text for an HTML element's content or a quoted attribute.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Replaces each `{{name}}` in `template` by `value(name)`, in one pass, so
/// text put in (a title, the log) is never itself searched for placeholders.
fn fill<'a>(template: &str, mut value: impl FnMut(&str) -> &'a str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(value(&rest[start + 2..start + 2 + len]));
        rest = &rest[start + 2 + len + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    const METADATA: &str = r#"{"type":"metadata","root_model":"m"}"#;

    /// The text of the page's data element.
    fn data_of(html: &str) -> &str {
        let open = r#"<script type="application/json" id="log-data">"#;
        let start = html.find(open).expect("data element") + open.len();
        let len = html[start..].find("</script>").expect("end of data element");
        &html[start..start + len]
    }

    #[test]
    fn embedded_data_round_trips() {
        let lines = [
            METADATA,
            r#"{"type":"iteration","response":"a </script><script>alert(1)</script> b","answer":{"z":1,"a":[12345678901234567890,2.5]}}"#,
            "{\"type\":\"iteration\",\"response\":\"line\u{2028}sep\u{2029}para & <!-- \\\\< \\u003c\"}",
        ];
        let html = render(&lines.join("\n"), "t").unwrap();
        let data = data_of(&html);
        let parsed: Vec<Value> = serde_json::from_str(data).unwrap();
        let expected: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(parsed, expected);
        // Key order and the exact integer survive because lines are embedded as written.
        assert!(data.contains(r#"{"z":1,"a":[12345678901234567890,2.5]}"#), "{data}");
    }

    #[test]
    fn log_text_cannot_end_the_data_element() {
        let line = r#"{"type":"iteration","response":"</script><script>alert(1)</script><!--<script>","notes":["</SCRIPT >"]}"#;
        let html = render(&format!("{METADATA}\n{line}"), "t").unwrap();
        let data = data_of(&html);
        for bad in ['<', '>', '&', '\u{2028}', '\u{2029}'] {
            assert!(!data.contains(bad), "{bad:?} in {data}");
        }
        // Only the page's own two scripts close.
        assert_eq!(html.to_ascii_lowercase().matches("</script").count(), 2);
        assert!(!html.contains("alert(1)</script>"));
    }

    #[test]
    fn line_separators_are_escaped() {
        let html = render("{\"type\":\"metadata\",\"x\":\"a\u{2028}b\u{2029}c\"}", "t").unwrap();
        let data = data_of(&html);
        assert!(data.contains(r"a\u2028b\u2029c"), "{data}");
    }

    #[test]
    fn title_is_escaped() {
        let html = render(METADATA, "</title><script>alert(1)</script> & \"q\"").unwrap();
        assert!(
            html.contains("<title>&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;</title>")
        );
        assert!(!html.contains("<script>alert(1)"));
    }

    #[test]
    fn title_and_log_are_not_searched_for_placeholders() {
        let html = render(r#"{"type":"metadata","x":"{{script}}"}"#, "{{data}}").unwrap();
        assert!(html.contains("<title>{{data}}</title>"));
        assert!(data_of(&html).contains(r#""x":"{{script}}""#));
    }

    #[test]
    fn empty_log_is_an_error() {
        assert!(matches!(render("", "t"), Err(Error::EmptyLog)));
        assert!(matches!(render("\n  \n\r\n", "t"), Err(Error::EmptyLog)));
        assert_eq!(render("", "t").unwrap_err().to_string(), "the log is empty");
    }

    #[test]
    fn bad_json_names_its_line() {
        let log = format!("{METADATA}\n\n{{\"type\":\"iteration\"}}\nnot json\n");
        let err = render(&log, "t").unwrap_err();
        assert!(matches!(err, Error::Json { line: 4, .. }), "{err:?}");
        assert_eq!(err.to_string(), "line 4 of the log is not valid JSON");
        assert!(std::error::Error::source(&err).is_some());
        let err = render(&format!("{METADATA}\n{{\"a\":1"), "t").unwrap_err();
        assert!(matches!(err, Error::Json { line: 2, .. }), "{err:?}");
    }

    #[test]
    fn a_line_that_is_not_an_object_names_its_line() {
        for line in ["[1,2]", "42", "\"text\"", "null"] {
            let err = render(&format!("{METADATA}\n{line}"), "t").unwrap_err();
            assert!(matches!(err, Error::NotAnObject { line: 2 }), "{line}: {err:?}");
            assert_eq!(err.to_string(), "line 2 of the log is not a JSON object");
        }
    }

    #[test]
    fn crlf_and_byte_order_mark_are_accepted() {
        let html = render(&format!("\u{feff}{METADATA}\r\n{METADATA}\r\n"), "t").unwrap();
        let parsed: Vec<Value> = serde_json::from_str(data_of(&html)).unwrap();
        assert_eq!(parsed.len(), 2);
    }

    #[test]
    fn page_is_self_contained() {
        let html = render(METADATA, "t").unwrap();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(!html.contains("{{"), "a placeholder was left unfilled");
        for external in ["http://", "https://", "src=", "href=", "@import", "url("] {
            assert!(!html.contains(external), "{external} in the page");
        }
        assert!(html.contains(&format!(r#"content="{}""#, content_security_policy())));
    }

    #[test]
    fn assets_cannot_end_their_elements() {
        assert!(!SCRIPT.to_ascii_lowercase().contains("</script"));
        assert!(!STYLE.to_ascii_lowercase().contains("</style"));
    }

    #[test]
    fn csp_hashes_the_inline_script_and_style() {
        // The empty string's SHA-256, as browsers compute it for `<script></script>`.
        assert_eq!(sha256_source(""), "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
        let html = render(METADATA, "t").unwrap();
        let script = format!("<script>{SCRIPT}</script>");
        let style = format!("<style>{STYLE}</style>");
        assert!(html.contains(&script) && html.contains(&style), "the hashed text must be the element's text");
    }
}
