// Self-test of the harness: the good fixtures (the format of docs/log-format.md) pass, the broken
// ones (raw JSON values in rlms' string fields) fail with the error the real visualizer throws, and
// the list quirk shows the second element. Run by selftest.sh.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, 'fixtures');

const shownOk = (final_answer, iterations, sub_calls) => ({ ok: true, final_answer, iterations, sub_calls });
const expected = {
  'good_string_answer.jsonl': shownOk('the fox', 2, 1),
  'good_dict_answer.jsonl': shownOk('{"fox": 1, "dog": 1}', 2, 1),
  'good_list_answer.jsonl': shownOk('["fox", "dog"]', 2, 1),
  'good_number_answer.jsonl': shownOk('2', 2, 1),
  'good_failed_subcall.jsonl': shownOk('fox and dog', 2, 2),
  // The visualizer counts only the root's sub-calls; the nested runs under metadata are not shown.
  'good_two_level_recursion.jsonl': shownOk('the fox', 2, 1),
  // Not a crash: extractFinalAnswer takes a list as a (type, answer) pair and shows its 2nd element.
  'quirk_list_final_answer.jsonl': shownOk('dog', 2, 1),
  'broken_dict_final_answer.jsonl': { ok: false, error: 'server render of LogViewer: Error: Objects are not valid as a React child (found: object with keys {a})' },
  'broken_subcall_response_number.jsonl': { ok: false, error: 'TypeError: call.response.slice is not a function (at src/components/CodeBlock.tsx:' },
  'broken_subcall_response_object.jsonl': { ok: false, error: 'TypeError: call.response.slice is not a function (at src/components/CodeBlock.tsx:' },
  // Only the client pass sees this one: ExecutionPanel renders call.response as a child in its
  // "Sub-LM Calls" tab, which is mounted only when a person opens it.
  'broken_subcall_response_list.jsonl': { ok: false, error: 'client render: iteration 1: opening the "Sub-LM Calls" tab: thrown: Error: Objects are not valid as a React child (found: object with keys {animal})', serverOk: true },
};

let passed = 0;
let failed = 0;
const check = (cond, what) => {
  if (cond) passed++;
  else failed++;
  console.log(`${cond ? 'ok' : 'not ok'} - ${what}`);
};
const run = (files) => {
  const r = spawnSync(path.join(here, 'run.sh'), files, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const lines = r.stdout.split('\n').filter((l) => l.trim());
  let records = [];
  try {
    records = lines.map((l) => JSON.parse(l));
  } catch (e) {
    console.log(`# stdout is not JSON lines: ${e.message}`);
  }
  return { status: r.status, stderr: r.stderr, records };
};

const present = fs.readdirSync(fixtures).filter((f) => f.endsWith('.jsonl')).sort();
check(
  JSON.stringify(present) === JSON.stringify(Object.keys(expected).sort()),
  `every fixture has an expectation and every expectation a fixture (${present.length} fixtures)`,
);

// 1. All fixtures in one run: non-zero exit, and each log as expected.
const all = run(present.map((f) => path.join(fixtures, f)));
check(all.status === 1, `run.sh on all fixtures exits 1 (got ${all.status})`);
check(all.records.length === present.length, `one JSON line per log (got ${all.records.length})`);
for (const f of present) {
  const exp = expected[f];
  const r = all.records.find((x) => path.basename(x.file) === f);
  if (!r || !exp) {
    check(false, `${f}: has a result and an expectation`);
    continue;
  }
  if (exp.ok) {
    check(r.ok === true && r.errors.length === 0, `${f}: passes${r.errors.length ? ` (but: ${r.errors[0]})` : ''}`);
    check(r.final_answer === exp.final_answer, `${f}: parse-logs computes final answer ${JSON.stringify(exp.final_answer)} (got ${JSON.stringify(r.final_answer)})`);
    check(r.shown?.final_answer === exp.final_answer, `${f}: LogViewer shows final answer ${JSON.stringify(exp.final_answer)} (got ${JSON.stringify(r.shown?.final_answer)})`);
    check(r.iterations === exp.iterations && r.shown?.iterations_visited === exp.iterations && r.shown?.stats?.Iterations === String(exp.iterations),
      `${f}: ${exp.iterations} iterations counted, shown and visited`);
    check(r.sub_calls === exp.sub_calls && r.shown?.stats?.['Sub-LM'] === String(exp.sub_calls) && r.shown?.sub_lm_cards === exp.sub_calls,
      `${f}: ${exp.sub_calls} sub-calls counted, shown and listed in the Sub-LM tab`);
  } else {
    check(r.ok === false, `${f}: fails`);
    check(r.errors.some((e) => e.includes(exp.error)), `${f}: reports ${JSON.stringify(exp.error)} (got ${JSON.stringify(r.errors[0])})`);
    check(all.stderr.includes(`FAIL ${path.join(fixtures, f)}: `), `${f}: a FAIL line on stderr names the file`);
    if (exp.serverOk) check(r.errors.every((e) => e.startsWith('client render: ')), `${f}: only the client pass fails`);
  }
}

// 2. The passing fixtures alone: exit 0, an OK line each.
const good = present.filter((f) => expected[f].ok);
const ok = run(good.map((f) => path.join(fixtures, f)));
check(ok.status === 0, `run.sh on the ${good.length} passing fixtures exits 0 (got ${ok.status})`);
check(good.every((f) => ok.stderr.includes(`OK ${path.join(fixtures, f)} `)), 'an OK line per passing fixture');

// 3. A single broken fixture alone fails the run; no arguments is a usage error.
const one = run([path.join(fixtures, 'broken_subcall_response_number.jsonl')]);
check(one.status === 1, `run.sh on one broken fixture exits 1 (got ${one.status})`);
const none = run([]);
check(none.status === 2, `run.sh with no logs exits 2 (got ${none.status})`);

if (failed) console.log(`# run.sh stderr of the full run:\n${all.stderr.replace(/^/gm, '#   ')}`);
console.log(`selftest: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
