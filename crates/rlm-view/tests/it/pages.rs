//! One test per page: render a generated log, load it in Chromium, check
//! what a person would see, and fail on any console error.

use serde_json::{Value, json};

use crate::chromium::{Browser, artefact_dir};
use crate::fixtures;

/// Renders `log`, saves the page as an artefact and opens it from disk.
fn open_log(browser: &mut Browser, name: &str, log: &str, title: &str) {
    let html = rlm_view::render(log, title).expect("render the log");
    let path = artefact_dir().join(format!("{name}.html"));
    std::fs::write(&path, html).expect("write the page");
    browser.open(&format!("file://{}", path.display()));
}

/// Keeps a screenshot and checks the page reported no problem.
fn finish(browser: &mut Browser, name: &str) {
    browser.screenshot(&artefact_dir().join(format!("{name}.png")));
    browser.assert_no_problems();
}

fn js(value: &str) -> String {
    serde_json::to_string(value).unwrap()
}

fn text(browser: &mut Browser, selector: &str) -> String {
    let value = browser.eval(&format!("(document.querySelector({}) || {{}}).textContent", js(selector)));
    value.as_str().unwrap_or_else(|| panic!("no text at `{selector}`")).to_owned()
}

/// A header figure's exact value (`data-value`), not its formatted text.
fn stat(browser: &mut Browser, id: &str) -> String {
    let value = browser.eval(&format!("(document.getElementById({}) || {{dataset: {{}}}}).dataset.value", js(id)));
    value.as_str().unwrap_or_else(|| panic!("no figure `{id}`")).to_owned()
}

fn data(browser: &mut Browser, selector: &str, key: &str) -> String {
    let value =
        browser.eval(&format!("(document.querySelector({}) || {{dataset: {{}}}}).dataset[{}]", js(selector), js(key)));
    value.as_str().unwrap_or_else(|| panic!("no data-{key} at `{selector}`")).to_owned()
}

/// The labels of the tree rows on screen that match a selector.
fn row_labels(browser: &mut Browser, selector: &str) -> Vec<String> {
    let value = browser.eval(&format!(
        "[...document.querySelectorAll({})].map(r => r.querySelector('.label').textContent)",
        js(selector)
    ));
    serde_json::from_value(value).unwrap()
}

/// The selector of the `nth` (from 0) tree row on screen whose label is `label`.
fn row(browser: &mut Browser, label: &str, nth: usize) -> String {
    let id = browser.eval(&format!(
        "([...document.querySelectorAll('#tree .row')].filter(r => r.querySelector('.label').textContent === {})[{nth}] || {{dataset: {{}}}}).dataset.id",
        js(label)
    ));
    let id = id.as_str().unwrap_or_else(|| panic!("no row `{label}` #{nth} on screen"));
    format!("#tree .row[data-id=\"{id}\"]")
}

/// Clicks a tree row (or, with `inner` like `" .tog"`, a part of it).
fn click_row(browser: &mut Browser, label: &str, nth: usize, inner: &str) {
    let row = row(browser, label, nth);
    browser.click(&format!("{row}{inner}"));
}

fn search(browser: &mut Browser, query: &str) {
    browser.eval("document.getElementById('search').value = ''");
    browser.click("#search");
    browser.type_text(query);
}

#[test]
fn two_level_recursion_with_failures() {
    let Some(mut b) = Browser::launch() else {
        return;
    };
    let title = "two levels </title><script>alert(3)</script>";
    open_log(&mut b, "two-level", &fixtures::two_level_recursion(), title);

    assert_eq!(b.eval("document.title"), json!(title), "the title is shown as text");
    assert_eq!(stat(&mut b, "stat-calls"), "5");
    assert_eq!(stat(&mut b, "stat-failures"), "2");
    assert_eq!(stat(&mut b, "stat-depth"), "2");
    assert_eq!(text(&mut b, "#run-status"), "answered");
    assert_eq!(text(&mut b, "#answer"), format!("Cats and dogs. {}", fixtures::SCRIPT_PAYLOAD));
    assert_eq!(data(&mut b, "#timeline", "bars"), "5");

    // Root, three iterations, the three calls of the first and the sub-RLM of the second.
    assert_eq!(data(&mut b, "#tree", "rows"), "8");
    assert_eq!(row_labels(&mut b, "#tree .row.bad"), ["#2 gpt-sub", "iteration 2"]);
    assert_eq!(b.eval("document.querySelectorAll('#tree .kind.tool').length"), json!(1));

    // Open the sub-RLM and its first iteration: a timeout that lost the state.
    let sub_rlm = row(&mut b, "#1 gpt-sub", 1);
    b.click(&format!("{sub_rlm} .tog"));
    assert_eq!(data(&mut b, "#tree", "rows"), "10");
    let child_iteration = row(&mut b, "iteration 1", 1);
    b.click(&child_iteration);
    let badges = b.eval("[...document.querySelectorAll('#detail h2 .badge')].map(e => e.textContent)");
    assert_eq!(badges, json!(["timeout", "state lost"]));
    assert_eq!(b.eval("document.querySelectorAll('#detail .block.limit').length"), json!(1));
    assert!(text(&mut b, "#detail .block.limit pre.limit").contains("the cell ran past its 30 s limit"));
    assert_eq!(
        b.eval("document.querySelector('#detail .crumbs').textContent"),
        json!("root › iteration 2 › #1 gpt-sub (rlm) › iteration 1")
    );
    finish(&mut b, "two-level");

    // Untrusted text is shown as text, and nothing in it ran.
    click_row(&mut b, "iteration 1", 0, "");
    assert!(text(&mut b, "#detail pre.stdout").contains(fixtures::IMG_PAYLOAD));
    assert!(text(&mut b, "#detail pre.response").contains(fixtures::SCRIPT_PAYLOAD));
    assert_eq!(text(&mut b, "#detail .notes li"), "<b>not bold</b>: a note");
    assert_eq!(b.eval("document.querySelectorAll('img, #detail b, iframe').length"), json!(0));
    assert_eq!(b.eval("document.querySelectorAll('script').length"), json!(2));
    assert_eq!(b.eval("typeof window.__pwned"), json!("undefined"));

    // Search narrows the tree to the failed call; Enter selects it.
    search(&mut b, "rate limited");
    b.wait_for("document.getElementById('search-count').dataset.value === '1'", "one match");
    assert_eq!(data(&mut b, "#tree", "rows"), "3");
    b.press("Enter");
    b.wait_for("document.getElementById('call-error')", "the failed call's details");
    assert_eq!(text(&mut b, "#call-error"), "rate limited by the provider (429)");
    assert_eq!(
        b.eval("[...document.querySelectorAll('#call-error mark')].map(m => m.textContent)"),
        json!(["rate limited"])
    );
    b.press("Escape");
    b.wait_for("document.getElementById('search-count').dataset.value === '0'", "the search to clear");
    assert_eq!(data(&mut b, "#tree", "rows"), "10");

    // The failures filter.
    b.click("#failures-only");
    b.wait_for("document.getElementById('search-count').dataset.value === '3'", "two failures and one limit stop");
    b.assert_no_problems();
}

#[test]
fn dict_answer_keeps_order_and_digits() {
    let Some(mut b) = Browser::launch() else {
        return;
    };
    for (name, final_answer_text) in [("dict-answer", true), ("dict-answer-raw", false)] {
        open_log(&mut b, name, &fixtures::dict_answer(final_answer_text), "dict answer");
        assert_eq!(data(&mut b, "#answer", "type"), "dict", "{name}");
        let answer = text(&mut b, "#answer");
        assert!(answer.contains("\"big\": 12345678901234567890"), "{name}: {answer}");
        assert!(answer.contains("\"y\": \"</script>\""), "{name}: {answer}");
        assert!(answer.contains("2.5,\n"), "{name}: pretty-printed: {answer}");
        let parsed: Value = serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{name}: {e}: {answer}"));
        assert_eq!(parsed, serde_json::from_str::<Value>(fixtures::DICT_ANSWER).unwrap(), "{name}");
        if final_answer_text {
            // Exactly as written, integer-like key included (a JavaScript object would move it first).
            let at = |key: &str| answer.find(key).unwrap_or_else(|| panic!("{key} in {answer}"));
            assert!(at("\"z\"") < at("\"10\"") && at("\"10\"") < at("\"a\""), "{answer}");
        }
        assert_eq!(text(&mut b, "#run-status"), "answered");
        finish(&mut b, name);
    }
}

#[test]
fn ten_thousand_call_fan_out() {
    let Some(mut b) = Browser::launch() else {
        return;
    };
    open_log(&mut b, "fan-out", &fixtures::fan_out(), "fan-out");
    let calls = fixtures::FAN_OUT;
    let failed = calls / fixtures::FAN_OUT_FAIL_EVERY;

    assert_eq!(stat(&mut b, "stat-calls"), calls.to_string());
    assert_eq!(stat(&mut b, "stat-failures"), failed.to_string());
    // Two root model calls of 100 + 20 tokens, and 53 tokens per sub-call.
    assert_eq!(stat(&mut b, "stat-tokens"), (2 * 120 + calls * 53).to_string());
    assert_eq!(text(&mut b, "#stat-calls .v"), "10,000");
    assert_eq!(text(&mut b, "#answer"), calls.to_string());
    assert_eq!(data(&mut b, "#timeline", "bars"), calls.to_string());
    assert_eq!(data(&mut b, "#timeline", "lanes"), fixtures::FAN_OUT_CONCURRENCY.to_string());

    // Every call has a row, but only the rows on screen are in the DOM.
    assert_eq!(data(&mut b, "#tree", "rows"), (3 + calls).to_string());
    let in_dom = b.eval("document.querySelectorAll('#tree .row').length").as_u64().unwrap();
    assert!(in_dom < 200, "{in_dom} rows in the DOM");
    finish(&mut b, "fan-out");

    // The last row is reachable by scrolling.
    b.eval(
        "const t = document.getElementById('tree'); t.scrollTop = t.scrollHeight; t.dispatchEvent(new Event('scroll'))",
    );
    b.wait_for(
        "[...document.querySelectorAll('#tree .row .label')].some(l => l.textContent === '#10000 gpt-sub')",
        "the last call's row",
    );

    search(&mut b, "item 9999:");
    b.wait_for("document.getElementById('search-count').dataset.value === '1'", "one match");
    b.press("Enter");
    b.wait_for("document.getElementById('detail').dataset.node === 'call'", "the call's details");
    assert!(text(&mut b, "#detail h2").starts_with("llm#10000 model call"), "{}", text(&mut b, "#detail h2"));
    assert_eq!(text(&mut b, "#call-error"), "the model returned no text");

    b.press("Escape");
    b.click("#failures-only");
    b.wait_for(&format!("document.getElementById('search-count').dataset.value === '{failed}'"), "the failed calls");
    // The root, the fan-out iteration and the failed calls.
    assert_eq!(data(&mut b, "#tree", "rows"), (2 + failed).to_string());
    b.assert_no_problems();
}

#[test]
fn rlms_log_served_over_http() {
    let Some(mut b) = Browser::launch() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let html = rlm_view::render(fixtures::RLMS_LOG, "rlms 0.1.3 log").unwrap();
    std::fs::write(artefact_dir().join("rlms.html"), &html).unwrap();
    let server = runtime.block_on(rlm_view::serve(html, "127.0.0.1:0".parse().unwrap())).unwrap();
    b.open(server.url());

    assert_eq!(stat(&mut b, "stat-model"), "gpt-5-nano");
    assert_eq!(stat(&mut b, "stat-iterations"), "3");
    assert_eq!(stat(&mut b, "stat-calls"), "3");
    assert_eq!(stat(&mut b, "stat-failures"), "0");
    assert_eq!(text(&mut b, "#stat-cost .v"), "$0.0035");
    assert_eq!(text(&mut b, "#answer"), "The answer is 42");
    // No start times in rlms logs: calls are laid out one after another.
    assert_eq!(data(&mut b, "#timeline", "sequential"), "3");
    assert!(text(&mut b, "#tl-note").contains("shown one after another"));
    // A call with a nested run is a sub-RLM, though the log has no `kind`.
    assert_eq!(
        b.eval("[...document.querySelectorAll('#tree .row .kind')].map(k => k.textContent)"),
        json!(["run", "llm", "rlm"])
    );

    let sub_rlm = row(&mut b, "#1 gpt-5-nano", 1);
    b.click(&format!("{sub_rlm} .tog"));
    b.click(&sub_rlm);
    assert_eq!(text(&mut b, "#answer"), "yes");
    click_row(&mut b, "iteration 1", 1, "");
    click_row(&mut b, "iteration 1", 1, " .tog");
    assert_eq!(
        b.eval("[...document.querySelectorAll('#tree .row .label')].map(k => k.textContent)"),
        json!([
            "root",
            "iteration 1",
            "#1 gpt-5-nano",
            "iteration 2",
            "#1 gpt-5-nano",
            "iteration 1",
            "#1 gpt-5-nano",
            "iteration 2",
            "iteration 3"
        ])
    );

    // Prompts are built when opened; the last message opens by itself.
    click_row(&mut b, "iteration 2", 0, "");
    assert_eq!(b.eval("document.querySelectorAll('#detail details.msg').length"), json!(0));
    b.click("#detail details.prompt > summary");
    b.wait_for("document.querySelectorAll('#detail details.msg').length === 4", "the prompt's messages");
    assert_eq!(text(&mut b, "#detail details.msg[open] pre"), "REPL output: The magic number is 42");
    finish(&mut b, "rlms");
    drop(b);
    runtime.block_on(server.shutdown()).unwrap();
}

#[test]
fn hostile_shapes_never_throw() {
    let Some(mut b) = Browser::launch() else {
        return;
    };
    open_log(&mut b, "hostile", fixtures::HOSTILE_LOG, "hostile");
    assert_eq!(stat(&mut b, "stat-ignored"), "1");
    assert_eq!(text(&mut b, "#answer"), "old style answer");
    assert!(text(&mut b, "#detail").contains("given as FINAL"));

    // Show every node, with every collapsed part open.
    b.click("#expand-all");
    let rows: u64 = data(&mut b, "#tree", "rows").parse().unwrap();
    assert!(rows > 8, "{rows} rows");
    click_row(&mut b, "root", 0, "");
    for _ in 1..rows {
        b.press("ArrowDown");
        b.eval("document.querySelectorAll('#detail details').forEach(d => d.open = true)");
    }
    assert_eq!(data(&mut b, "#detail", "node"), "iter", "the last row is the last iteration");
    b.eval("document.querySelectorAll('#detail details').forEach(d => d.open = true)");
    search(&mut b, "a");
    b.wait_for("document.getElementById('search-count').dataset.value !== '0'", "matches");
    finish(&mut b, "hostile");
}
