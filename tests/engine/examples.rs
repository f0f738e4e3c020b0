use rlm_examples::{averages_match, employees, haystack};
use rlm_test_support::{MockLlm, MockReply};
use rlm_tests::{answer, repl, rlm_for};
use serde_json::json;

#[tokio::test]
async fn needle_in_a_haystack_is_found_with_code() {
    let (text, needle) = haystack(200_000, 3);
    assert_eq!(text.matches("magic number").count(), 1);
    let mock = MockLlm::builder()
        .script([
            MockReply::text(repl("print(type(context).__name__, len(context))\nprint(context[:200])")),
            MockReply::text(repl(
                "import re\nm = re.search(r'magic number is (\\d+)', context)\nFINAL(int(m.group(1)))",
            )),
        ])
        .start();
    let done = rlm_for(&mock).build().unwrap().completion(text, "What is the magic number?").await.unwrap();
    assert_eq!(answer(&done), json!(needle));
    assert!(!mock.requests()[1].body.to_string().contains(&needle.to_string()), "the needle never reached the model");
}

#[tokio::test]
async fn salary_aggregation_is_exact_with_code_and_checked_by_sub_calls() {
    let (records, expected) = employees(3000, 5);
    let code = "from collections import defaultdict\nacc = defaultdict(list)\nfor r in context:\n    acc[r['department']].append(r['salary'])\navg = {d: round(sum(v) / len(v)) for d, v in acc.items()}\nnote = llm_query(f'Check these averages: {avg}')\nFINAL_VAR('avg')";
    let mock = MockLlm::builder().script([MockReply::text(repl(code)), MockReply::text("looks right")]).start();
    let done = rlm_for(&mock).build().unwrap().completion(records, "Average salary per department?").await.unwrap();
    assert!(averages_match(&answer(&done), &expected), "{} vs {expected:?}", answer(&done));
    assert_eq!(done.sub_calls, 1);
}

#[test]
fn a_wrong_average_is_not_accepted() {
    let (_, expected) = employees(100, 1);
    let mut wrong: serde_json::Map<String, serde_json::Value> =
        expected.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let first = expected.keys().next().unwrap().clone();
    wrong.insert(first, json!(1));
    assert!(!averages_match(&serde_json::Value::Object(wrong), &expected));
    let as_strings: serde_json::Map<_, _> = expected.iter().map(|(k, v)| (k.clone(), json!(format!("${v}")))).collect();
    assert!(averages_match(&serde_json::Value::Object(as_strings), &expected));
}
