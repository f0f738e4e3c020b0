use rlm_sandbox::{CellErrorKind, CellOutcome, Context};
use rlm_tests::sandbox;
use serde_json::{Value, json};

fn names(out: &CellOutcome) -> Vec<&str> {
    out.changed_vars.iter().map(|v| v.name.as_str()).collect()
}

fn final_of(out: &CellOutcome) -> Option<Value> {
    out.final_value.as_ref().map(|v| v.to_value())
}

/// The error message of a cell that must fail.
async fn error_of(sb: &mut rlm_sandbox::Sandbox, code: &str) -> String {
    let out = sb.run_cell(code).await.unwrap();
    match &out.error {
        Some(error) => error.message.clone(),
        None => panic!("{code:?} did not fail: {out:?}"),
    }
}

#[tokio::test]
async fn variables_functions_and_imports_persist_across_cells() {
    let mut sb = sandbox().await;
    let out = sb.run_cell("import re\nx = 41\ndef inc(v):\n    return v + 1").await.unwrap();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(names(&out), vec!["inc", "x"]);
    let out = sb.run_cell("print(inc(x), re.sub('a', 'b', 'aa'))").await.unwrap();
    assert_eq!(out.stdout, "42 bb\n");
    assert!(!out.state_lost);
}

#[tokio::test]
async fn a_new_sandbox_sees_nothing_of_another() {
    let mut a = sandbox().await;
    let mut b = sandbox().await;
    a.run_cell("secret = 'from a'").await.unwrap();
    let out = b.run_cell("print(secret)").await.unwrap();
    assert_eq!(out.error.as_ref().map(|e| e.kind), Some(CellErrorKind::Exception));
    assert!(out.stderr.contains("NameError: name 'secret' is not defined"), "{}", out.stderr);
    assert_eq!(b.list_vars().await.unwrap(), vec![]);
}

#[tokio::test]
async fn stdout_and_stderr_are_captured_separately() {
    let mut sb = sandbox().await;
    let out = sb.run_cell("import sys\nprint('out')\nprint('err', file=sys.stderr)").await.unwrap();
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");
    assert!(out.error.is_none());
}

#[tokio::test]
async fn a_traceback_shows_only_the_cells_frames_and_earlier_effects_persist() {
    let mut sb = sandbox().await;
    sb.run_cell("def boom(n):\n    return 1 / n").await.unwrap();
    let out = sb.run_cell("a = 1\nprint('before')\nb = boom(0)\nc = 3").await.unwrap();
    let err = out.error.as_ref().expect("the cell fails");
    assert_eq!(err.kind, CellErrorKind::Exception);
    assert_eq!(out.stdout, "before\n");
    assert!(out.stderr.contains("ZeroDivisionError: division by zero"), "{}", out.stderr);
    assert!(out.stderr.contains("b = boom(0)"), "the failing line is shown: {}", out.stderr);
    assert!(out.stderr.contains("return 1 / n"), "{}", out.stderr);
    assert!(!out.stderr.contains("app.py"), "driver frames leak: {}", out.stderr);
    assert!(!out.stderr.contains("wit_world"), "driver frames leak: {}", out.stderr);
    assert_eq!(names(&out), vec!["a"], "a half-run cell reports what it changed");
    assert_eq!(sb.get_var("a").await.unwrap().unwrap(), json!(1));
    assert!(sb.get_var("c").await.unwrap().unwrap_err().contains("no variable named 'c'"));
}

#[tokio::test]
async fn syntax_errors_are_reported_as_exceptions() {
    let mut sb = sandbox().await;
    let out = sb.run_cell("x = (1,\n").await.unwrap();
    assert_eq!(out.error.as_ref().map(|e| e.kind), Some(CellErrorKind::Exception));
    assert!(out.stderr.contains("SyntaxError"), "{}", out.stderr);
}

#[tokio::test]
async fn in_place_changes_are_reported() {
    let mut sb = sandbox().await;
    sb.run_cell("items = []\nother = 1").await.unwrap();
    let out = sb.run_cell("items.append(1)").await.unwrap();
    assert_eq!(names(&out), vec!["items"]);
    sb.run_cell("d = {'k': 1}\nnested = {'a': []}\nrows = [[0]] * 10").await.unwrap();
    assert_eq!(names(&sb.run_cell("d['k'] = 2").await.unwrap()), vec!["d"]);
    assert_eq!(names(&sb.run_cell("nested['a'].append(1)").await.unwrap()), vec!["nested"]);
    assert_eq!(names(&sb.run_cell("rows[3] = [1]").await.unwrap()), vec!["rows"]);
    assert!(names(&sb.run_cell("print(len(d))").await.unwrap()).is_empty(), "reading changes nothing");
    // A huge container is sampled, so the check stays cheap; a change to a
    // sampled item (its end) is still seen.
    sb.run_cell("big = list(range(1_000_000))").await.unwrap();
    let out = sb.run_cell("big[-1] = 'x'").await.unwrap();
    assert_eq!(names(&out), vec!["big"]);
    assert!(out.elapsed < std::time::Duration::from_secs(1), "{:?}", out.elapsed);
    // Up to 100,000 items every item's identity is compared: a change in the
    // middle of a big dict, list or set is seen, and so is a set that kept
    // its size.
    sb.run_cell("bd = {i: i for i in range(50_000)}\nbl = list(range(50_000))\nbs = set(range(50_000))").await.unwrap();
    assert_eq!(names(&sb.run_cell("bd[25_000] = -1").await.unwrap()), vec!["bd"]);
    assert_eq!(names(&sb.run_cell("bl[25_000] = -1").await.unwrap()), vec!["bl"]);
    assert_eq!(names(&sb.run_cell("bs.discard(25_000)\nbs.add(-1)").await.unwrap()), vec!["bs"]);
    assert!(names(&sb.run_cell("print(len(bd), len(bl), len(bs))").await.unwrap()).is_empty());
    // Past 100,000 items a dict is sampled at both ends: a change there is
    // seen (one in the middle may not be, as the prompt says).
    sb.run_cell("huge = {i: i for i in range(200_000)}").await.unwrap();
    assert_eq!(names(&sb.run_cell("huge[199_999] = -1").await.unwrap()), vec!["huge"]);
    assert_eq!(names(&sb.run_cell("huge[0] = -1").await.unwrap()), vec!["huge"]);
}

#[tokio::test]
async fn text_list_and_dict_contexts_load_and_several_are_numbered() {
    let mut sb = sandbox().await;
    sb.load_context(0, Context::from("hello")).await.unwrap();
    sb.load_context(1, Context::from(json!(["a", "b"]))).await.unwrap();
    sb.load_context(2, Context::from(json!({"k": [1, 2]}))).await.unwrap();
    let out = sb
        .run_cell("print(context, context_0 is context, context_1, context_2['k'], type(context_2).__name__)")
        .await
        .unwrap();
    assert_eq!(out.stdout, "hello True ['a', 'b'] [1, 2] dict\n");
}

/// A namespace that still holds only what a fresh sandbox has (the scaffold
/// and the contexts) is told apart from the names it is built from by
/// identity, not by filtering every name: each way a cell can change one of
/// those names is still reported.
#[tokio::test]
async fn changed_variables_are_exact_from_the_first_cell() {
    async fn first_cell(code: &str) -> CellOutcome {
        let mut sb = sandbox().await;
        sb.load_context(0, Context::from("text")).await.unwrap();
        sb.load_context(1, Context::from(json!(["b"]))).await.unwrap();
        let out = sb.run_cell(code).await.unwrap();
        assert!(out.is_ok(), "{code}: {}", out.stderr);
        out
    }
    // A key whose hash works once, in place of a context's name (so that the
    // namespace has as many names as a clean one): hashing it again would
    // raise.
    let once = "del context_1\nclass Once:\n    n = 0\n    def __hash__(self):\n        Once.n += 1\n        if Once.n > 1:\n            raise ValueError('hashed twice')\n        return 1\nglobals()[Once()] = 1\ndel Once";
    let cases: [(&str, &[&str]); 9] = [
        ("FINAL(context)", &[]),
        (once, &[]),
        ("context_1.append('c')", &[]),
        ("context = context.upper()", &["context"]),
        ("llm_query = 1", &["llm_query"]),
        ("globals()['context_9'] = context", &["context_9"]),
        ("c = context_1\ndel context", &["c"]),
        ("del context\ncontext = context_0", &[]),
        ("import json, re", &[]),
    ];
    for (code, expected) in cases {
        assert_eq!(names(&first_cell(code).await), expected, "{code}");
    }
}

/// `sys.stdout` and `sys.stderr` are the same objects from cell to cell, as
/// in a Python REPL, while they are as made: a cell that patched, closed or
/// broke one leaves the next cell a new one, and what model code can run
/// while they are checked neither stops the driver nor reaches the cell.
#[tokio::test]
async fn stdout_is_the_same_object_from_cell_to_cell_unless_changed() {
    let mut sb = sandbox().await;
    sb.run_cell("import sys\nout, err = sys.stdout, sys.stderr").await.unwrap();
    let out = sb.run_cell("out.write('kept\\n')\nprint(out is sys.stdout, err is sys.stderr)").await.unwrap();
    assert_eq!(out.stdout, "kept\nTrue True\n");
    for change in [
        "del sys.stdout._parts",
        "sys.stdout.write = lambda s: len(s)",
        "sys.stdout.close()",
        "class Stop(BaseException):\n    def __eq__(self, other):\n        raise self\nsys.stdout._refused = Stop()",
        "class Hook:\n    def __eq__(self, other):\n        sys.setprofile(lambda *a: FINAL('hijacked'))\n        return False\n\
         sys.stderr._size = Hook()",
    ] {
        let out = sb.run_cell(&format!("{change}\nout = sys.stdout")).await.unwrap();
        assert!(out.error.as_ref().is_none_or(|e| e.kind == CellErrorKind::Exception), "{change}: {out:?}");
        let out = sb.run_cell("sys.stdout.writelines(['a\\n'])\nprint(out is sys.stdout)").await.unwrap();
        assert!(out.is_ok(), "{change}: {out:?}");
        assert_eq!(out.stdout, "a\nFalse\n", "{change}");
        assert_eq!(out.final_value, None, "{change}");
    }
}

/// The host writes a text context straight into a `str` the guest made, in
/// CPython's layout: one, two or four bytes a character, the narrowest that
/// holds the text. A wrong width would break equality, hashing and `len`.
#[tokio::test]
async fn text_contexts_of_every_width_arrive_exactly() {
    let texts = [
        String::new(),
        "x".into(),
        "é".into(),
        "😀".into(),
        "ab".into(),
        "naïve café".into(),
        "日本語のテキスト".into(),
        "emoji 😀 and é".into(),
        "\u{0}nul and \u{7f}".into(),
        "\u{ff}\u{100}".into(),
        "line one\r\nline two\u{2028}".into(),
        format!("{}é", "a".repeat(100_000)),
        format!("{}\u{10ffff}", "日".repeat(50_000)),
    ];
    let mut sb = sandbox().await;
    for text in &texts {
        sb.load_context(0, Context::from(text.as_str())).await.unwrap();
        // The literal is compiled from the cell's code: another way to the same
        // `str`, which must compare, hash and measure the same.
        let literal = serde_json::to_string(text).unwrap();
        let code = format!(
            "import sys\nexpected = {literal}\n\
             assert context == expected, 'equal'\n\
             assert hash(context) == hash(expected) and {{expected: 1}}[context] == 1, 'hash'\n\
             assert len(context) == len(expected), 'len'\n\
             assert sys.getsizeof(context) == sys.getsizeof(expected), 'width'\n\
             assert context.encode('utf-8') == expected.encode('utf-8'), 'utf-8'\n\
             FINAL(context)"
        );
        let out = sb.run_cell(&code).await.unwrap();
        assert!(out.is_ok(), "{:.80?}: {}", text, out.stderr);
        assert_eq!(final_of(&out), Some(json!(text)), "{text:.80?}");
    }
    // JSON contexts take the same way in, then are parsed.
    sb.load_context(1, Context::from(json!({"ключ": ["😀", "é", 1]}))).await.unwrap();
    let out = sb.run_cell("FINAL(context_1['ключ'])").await.unwrap();
    assert_eq!(final_of(&out), Some(json!(["😀", "é", 1])));
}

/// A context loaded between cells takes its names back from variables a
/// cell bound to them, and is the one the next cell sees.
#[tokio::test]
async fn a_context_loaded_between_cells_replaces_a_rebound_name() {
    let mut sb = sandbox().await;
    sb.load_context(0, Context::from("first")).await.unwrap();
    assert!(sb.run_cell("context = 5\ncontext_0 = 6").await.unwrap().is_ok());
    sb.load_context(0, Context::from("second")).await.unwrap();
    let out = sb.run_cell("FINAL([context, context_0])").await.unwrap();
    assert_eq!(final_of(&out), Some(json!(["second", "second"])));
}

/// Model code can call the import that writes a context itself; outside a
/// load the host writes nothing and says so, whatever address it is given.
#[tokio::test]
async fn the_context_write_import_does_nothing_outside_a_load() {
    let mut sb = sandbox().await;
    sb.load_context(0, Context::from("kept as it is")).await.unwrap();
    let out = sb
        .run_cell(
            "from wit_world.imports import host\n\
             print([host.fill_context(a) for a in (0, id(context), 2**32 - 1)])",
        )
        .await
        .unwrap();
    assert!(out.is_ok(), "{}", out.stderr);
    assert_eq!(out.stdout.matches("no context is being loaded").count(), 3, "{}", out.stdout);
    let out = sb.run_cell("FINAL(context)").await.unwrap();
    assert_eq!(final_of(&out), Some(json!("kept as it is")));
}

/// A key that is not a `str` in the namespace names no variable; the
/// sandbox keeps its state and lists the others.
#[tokio::test]
async fn a_namespace_key_that_is_not_a_str_is_left_out() {
    let mut sb = sandbox().await;
    let out = sb.run_cell("globals()[1] = 2\nx = 5").await.unwrap();
    assert!(out.is_ok(), "{}", out.stderr);
    assert_eq!(names(&out), vec!["x"]);
    let out = sb.run_cell("print(x, globals()[1])").await.unwrap();
    assert_eq!(out.stdout, "5 2\n");
    assert!(!out.state_lost);
}

#[tokio::test]
async fn a_context_out_of_order_is_refused() {
    let mut sb = sandbox().await;
    let err = sb.load_context(1, Context::from("x")).await.unwrap_err();
    assert!(err.to_string().contains("before context 0"), "{err}");
}

#[tokio::test]
async fn a_100_mb_context_loads() {
    let mut sb = sandbox().await;
    let line = "the quick brown fox jumps over the lazy dog 0123456789\n";
    let text = line.repeat(100_000_000 / line.len() + 1);
    let len = text.len();
    sb.load_context(0, Context::from(text)).await.unwrap();
    let out = sb.run_cell("import re\nprint(len(context), len(re.findall('fox', context)))").await.unwrap();
    assert_eq!(out.stdout, format!("{len} {}\n", len / line.len()));
}

#[tokio::test]
async fn scaffold_names_are_restored_before_each_cell() {
    let mut sb = sandbox().await;
    sb.load_context(0, Context::from("original")).await.unwrap();
    let out = sb
        .run_cell("context = 'forged'\nFINAL = print\nllm_query = None\nSHOW_VARS = 1\nprint(context)")
        .await
        .unwrap();
    assert_eq!(out.stdout, "forged\n");
    let out = sb.run_cell("print(context)\nFINAL('real')").await.unwrap();
    assert_eq!(out.stdout, "original\n");
    assert_eq!(final_of(&out), Some(json!("real")));
}

#[tokio::test]
async fn show_vars_lists_user_variables_with_types() {
    let mut sb = sandbox().await;
    sb.load_context(0, Context::from("c")).await.unwrap();
    let out = sb
        .run_cell("import json\nn = 3\nnames = ['a']\ndef f(): pass\nshown = SHOW_VARS()\nprint(shown)")
        .await
        .unwrap();
    assert_eq!(out.stdout, "Available variables: f: function, n: int, names: list\n");
    let out = sb.run_cell("SHOW_VARS()").await.unwrap();
    assert!(out.display.unwrap().contains("shown: str"), "SHOW_VARS returns a str, as in rlms");
}

#[tokio::test]
async fn final_ends_the_cell_at_once_with_a_json_value() {
    let mut sb = sandbox().await;
    let out = sb.run_cell("print('a')\nFINAL({'n': 1, 'xs': [1.5, None, True]})\nprint('never')").await.unwrap();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(out.stdout, "a\n");
    assert_eq!(final_of(&out), Some(json!({"n": 1, "xs": [1.5, null, true]})));
}

#[tokio::test]
async fn final_refuses_values_json_cannot_hold_with_a_clear_error() {
    let mut sb = sandbox().await;
    let out = sb.run_cell("FINAL({'s': {3, 1}, 't': (1, 2)})").await.unwrap();
    assert_eq!(final_of(&out), Some(json!({"s": [1, 3], "t": [1, 2]})), "sets and tuples become lists");
    for (code, needle) in [
        ("FINAL({'b': b'x'})", "type bytes cannot be represented"),
        ("FINAL(float('nan'))", "Out of range float values are not JSON compliant"),
        ("FINAL({1: 'a', '1': 'b'})", "appears twice"),
        ("x = []\nx.append(x)\nFINAL(x)", "Circular reference"),
    ] {
        let out = sb.run_cell(code).await.unwrap();
        assert_eq!(out.final_value, None, "{code}");
        let err = out.error.as_ref().expect("refused");
        assert!(matches!(err.kind, CellErrorKind::Exception | CellErrorKind::SizeLimit), "{code}: {err:?}");
        assert!(out.stderr.contains(needle), "{code}: {}", out.stderr);
    }
}

#[tokio::test]
async fn final_var_takes_a_name_with_or_without_quotes() {
    let mut sb = sandbox().await;
    sb.run_cell("answer = {'total': 7}").await.unwrap();
    let out = sb.run_cell("FINAL_VAR('answer')").await.unwrap();
    assert_eq!(final_of(&out), Some(json!({"total": 7})));
    let out = sb.run_cell("FINAL_VAR(answer)").await.unwrap();
    assert_eq!(final_of(&out), Some(json!({"total": 7})));
    let out = sb.run_cell("FINAL_VAR(\"'answer'\")").await.unwrap();
    assert_eq!(final_of(&out), Some(json!({"total": 7})));
}

#[tokio::test]
async fn final_var_of_an_unknown_name_lists_the_variables() {
    let mut sb = sandbox().await;
    sb.run_cell("alpha = 1\nbeta = 2").await.unwrap();
    let out = sb.run_cell("FINAL_VAR('gamma')").await.unwrap();
    assert_eq!(out.final_value, None);
    let err = out.error.expect("unknown name fails");
    assert!(err.message.contains("available variables: alpha, beta"), "{}", err.message);
}

#[tokio::test]
async fn get_var_and_list_vars_read_the_namespace() {
    let mut sb = sandbox().await;
    sb.run_cell("import math\nx = [1, 'two']\nobj = object()").await.unwrap();
    assert_eq!(sb.get_var("x").await.unwrap().unwrap(), json!([1, "two"]));
    let obj = sb.get_var("obj").await.unwrap().unwrap_err();
    assert!(obj.contains("cannot be returned"), "{obj}");
    let names: Vec<_> = sb.list_vars().await.unwrap().into_iter().map(|v| (v.name, v.type_name)).collect();
    assert_eq!(names, vec![("obj".into(), "object".into()), ("x".into(), "list".into())]);
}

#[tokio::test]
async fn random_differs_between_sandboxes() {
    let mut a = sandbox().await;
    let mut b = sandbox().await;
    let code = "import random\nFINAL(random.random())";
    let x = a.run_cell(code).await.unwrap().final_value;
    let y = b.run_cell(code).await.unwrap().final_value;
    assert_ne!(x, y, "the snapshot must not bake in the random seed");
}

/// The host writes `random`'s state once per sandbox, before model code
/// runs, and puts the real `random.seed` back. CPython's own seeding always
/// sets the first state word to 2**31; the host's write does not (but for a
/// chance of 2**-32), and leaves the index at 624, so the next draw twists.
#[tokio::test]
async fn the_host_seeds_random_once_and_model_code_seeds_it_as_cpython_does() {
    let mut sb = sandbox().await;
    let out = sb
        .run_cell(
            "import random\n\
             from wit_world.imports import host\n\
             first = random.getstate()\n\
             print(first[1][0] != 2**31, first[1][-1])\n\
             print([host.seed_random(a) for a in (0, id(random._inst) + 12, 2**32 - 1)])\n\
             print(random.getstate() == first)\n\
             random.seed(5)\n\
             print(random.getstate()[1][0] == 2**31, random.random())",
        )
        .await
        .unwrap();
    assert!(out.is_ok(), "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "True 624", "the host wrote the state, and nothing else");
    assert_eq!(lines[1].matches("`random` was already seeded").count(), 3, "{}", lines[1]);
    assert_eq!(lines[2], "True", "a refused write changes nothing");
    // CPython 3.14 on any platform: `random.seed(5); random.random()`.
    assert_eq!(lines[3], "True 0.6229016948897019");
}

#[tokio::test]
async fn raw_writes_to_fd_1_and_2_are_captured_too() {
    let mut sb = sandbox().await;
    let code = "import os, sys\nos.write(1, b'raw out\\n')\nos.write(2, b'raw err\\n')\nprint('dunder', file=sys.__stdout__)\nsys.__stdout__.flush()";
    let out = sb.run_cell(code).await.unwrap();
    assert!(out.is_ok(), "{out:?}");
    assert_eq!(out.stdout, "raw out\ndunder\n");
    assert_eq!(out.stderr, "raw err\n");
    let out = sb.run_cell("print('next cell')").await.unwrap();
    assert_eq!(out.stdout, "next cell\n", "each cell starts with empty output");
}

#[tokio::test]
async fn the_last_expression_is_shown_like_an_interactive_interpreter() {
    let mut sb = sandbox().await;
    let out = sb.run_cell("x = 40\nx + 2").await.unwrap();
    assert_eq!(out.display.as_deref(), Some("42"));
    let out = sb.run_cell("print('hi')").await.unwrap();
    assert_eq!(out.display, None, "None is not shown");
    let out = sb.run_cell("'a' * 5000").await.unwrap();
    let shown = out.display.unwrap();
    assert!(shown.len() < 2100 && shown.contains("..."), "a long value is cut: {}", shown.len());
    // A trailing expression over several lines, and one that raises: the
    // traceback points at the cell's own line and columns.
    let out = sb.run_cell("xs = [1,\n 2]\n(xs,\n  len(xs))").await.unwrap();
    assert_eq!(out.display.as_deref(), Some("([1, 2], 2)"));
    let out = sb.run_cell("y = 1\n\n{'k': 0}[\n  'missing']").await.unwrap();
    let error = out.error.expect("the trailing expression raised");
    assert!(error.message.contains("line 3") && error.message.contains("KeyError: 'missing'"), "{}", error.message);
    assert!(error.message.contains("{'k': 0}[\n"), "the failing line is quoted: {}", error.message);
    let out = sb.run_cell("async def f():\n    return 7\nawait f()").await.unwrap();
    assert_eq!(out.display.as_deref(), Some("7"), "a trailing await is shown too");
}

#[tokio::test]
async fn only_a_real_trailing_expression_statement_is_shown() {
    // The driver compiles a cell's last column-0 line on its own when it can
    // show that line starts the last statement; each case here is one where
    // a line-based guess goes wrong.
    let mut sb = sandbox().await;
    let cases: &[(&str, Option<&str>)] = &[
        // The last column-0 line continues a backslash, a bracket or a string.
        ("x = 1 + \\\n2", None),
        ("x = [1,\n2]", None),
        ("s = \"\"\"\nabc\n1\"\"\"", None),
        ("\"\"\"\nfor x in y\n\"\"\"", Some("'\\nfor x in y\\n'")),
        // Statements that a line-based guess could take for expressions.
        ("if True:\n    7\nelse:\n    8", None),
        ("d = {}\nd['k'] = 4", None),
        ("v = 3; v", Some("3")),
        ("match = 5\nmatch", Some("5")),
        ("@staticmethod\ndef g(): pass\ng.__class__.__name__", Some("'staticmethod'")),
        // Comments after the expression, on its line and below it.
        ("w = 6\nw  # show\n# done\n", Some("6")),
        // A task started before the last line and awaited in it: one event loop.
        ("import asyncio\nt = asyncio.ensure_future(asyncio.sleep(0, 8))\nawait t", Some("8")),
    ];
    for (code, shown) in cases {
        let out = sb.run_cell(code).await.unwrap();
        assert!(out.error.is_none(), "{code:?}: {:?}", out.error);
        assert_eq!(out.display.as_deref(), *shown, "{code:?}");
    }
    // An error before the trailing expression points at its own line, and the
    // expression does not run.
    let out = sb.run_cell("shown = 0\n1 / 0\nshown = 1\nshown").await.unwrap();
    assert!(out.error.unwrap().message.contains("line 2"));
    assert_eq!(sb.run_cell("shown").await.unwrap().display.as_deref(), Some("0"));
    let cases = [
        // A syntax error is reported for the whole cell, at its own line.
        ("a = 1\nb = (\n", ["SyntaxError", "line 2"]),
        // A last line of non-ASCII whitespace is a syntax error, not a crash
        // of the driver.
        ("x = 1\n\u{a0}", ["SyntaxError", "line 2"]),
        // Lone `\r` ends a line for the compiler, so it does for line numbers.
        ("a = 1\rb = 2\n1 / 0", ["line 3", "1 / 0"]),
        // U+2028 inside a string does not end a line: the traceback quotes
        // the line that failed.
        ("s = 'a\u{2028}b'\n1 / 0", ["line 2", "1 / 0"]),
    ];
    for (code, expected) in cases {
        let message = error_of(&mut sb, code).await;
        assert!(expected.iter().all(|part| message.contains(part)), "{code:?}: {message}");
    }
    // A cell's statements see the builtins its frame started with, even
    // after it rebinds `__builtins__`.
    let out = sb.run_cell("__builtins__ = {'len': lambda x: 42}\nlen('abc')").await.unwrap();
    assert_eq!(out.display.as_deref(), Some("3"), "{out:?}");
    assert_eq!(sb.run_cell("len('ab')").await.unwrap().display.as_deref(), Some("2"));
}

#[tokio::test]
async fn the_answer_dict_of_rlms_ends_the_run_like_final() {
    let mut sb = sandbox().await;
    let out =
        sb.run_cell("answer['content'] = 'forty-two'\nanswer['ready'] = True\nprint('still runs')").await.unwrap();
    assert_eq!(out.stdout, "still runs\n");
    assert_eq!(final_of(&out), Some(json!("forty-two")));
    let out = sb.run_cell("answer = {'content': {'n': 1}, 'ready': True}").await.unwrap();
    assert_eq!(final_of(&out), Some(json!({"n": 1})));
    let out = sb.run_cell("print(answer)").await.unwrap();
    assert_eq!(out.stdout, "{'content': '', 'ready': False}\n", "a fresh answer dict for the next query");
    let out = sb.run_cell("answer = llm_summary = 'a plain variable'").await.unwrap();
    assert_eq!(out.final_value, None);
}

#[tokio::test]
async fn other_spellings_of_final_work_unless_the_model_uses_the_name() {
    let mut sb = sandbox().await;
    assert_eq!(final_of(&sb.run_cell("Final(1)").await.unwrap()), Some(json!(1)));
    assert_eq!(final_of(&sb.run_cell("final(2)").await.unwrap()), Some(json!(2)));
    sb.run_cell("total = 3").await.unwrap();
    assert_eq!(final_of(&sb.run_cell("final_var('total')").await.unwrap()), Some(json!(3)));
    sb.run_cell("final = 'my own variable'").await.unwrap();
    let out = sb.run_cell("print(final)").await.unwrap();
    assert_eq!(out.stdout, "my own variable\n");
}

#[tokio::test]
async fn integers_and_key_order_are_kept_exactly() {
    let mut sb = sandbox().await;
    sb.load_context(
        0,
        Context::Json(rlm_sandbox::JsonText::parse(r#"{"z": 18446744073709551617, "a": 1}"#, 1000).unwrap()),
    )
    .await
    .unwrap();
    let out = sb
        .run_cell("print(list(context), context['z'] - 1)\nFINAL({'big': 2**64 + 1, 'huge': 10**400, 'z': 0, 'a': 1})")
        .await
        .unwrap();
    assert_eq!(out.stdout, "['z', 'a'] 18446744073709551616\n");
    let text = out.final_value.unwrap();
    assert!(text.as_str().starts_with(r#"{"big": 18446744073709551617, "huge": 1000"#), "{text}");
    assert!(text.as_str().ends_with(r#", "z": 0, "a": 1}"#), "{text}");
}
