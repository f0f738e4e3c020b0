// Loads each JSONL log with the official rlms visualizer's own parser and components (bundled by
// build.mjs) and fails if parsing or rendering throws, or React (or the app) reports an error.
//
//   node harness.mjs LOG.jsonl...
//
// stdout: one JSON line per log: {"file", "ok", "iterations", "code_blocks", "sub_calls",
//   "final_answer", "has_errors", "context_question", ..., "shown": {...what the page displayed},
//   "errors": [...], "warnings": [...]}
// stderr: "OK <file> ..." or "FAIL <file>: <first error>" per log, and the errors in full.
// Exit status: 0 if every log passed, 1 if any failed, 2 on a usage or setup error.
import fs from 'node:fs';
import path from 'node:path';
import util from 'node:util';
import vm from 'node:vm';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { JSDOM, VirtualConsole } from 'jsdom';

process.setSourceMapsEnabled(true); // stack frames name the upstream file and line (bundles carry source maps)
const here = path.dirname(fileURLToPath(import.meta.url));
const build = path.resolve(here, process.env.VISUALIZER_BUILD || path.join('.build', 'dev')); // see build.mjs
const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node harness.mjs LOG.jsonl...');
  process.exit(2);
}
for (const f of ['ssr.cjs', 'client.js', 'source.json']) {
  if (!fs.existsSync(path.join(build, f))) {
    console.error(`visualizer harness: ${path.join(build, f)} is missing: run node build.mjs (run.sh does)`);
    process.exit(2);
  }
}
const source = JSON.parse(fs.readFileSync(path.join(build, 'source.json'), 'utf8'));
console.error(`visualizer: ${source.upstream} (origin ${source.origin_commit || '?'}, src sha256 ${source.src_sha256.slice(0, 12)})`);

const TIMEOUT_S = Number(process.env.VISUALIZER_TIMEOUT_S || 60); // per log, client pass
const firstLine = (s) => String(s ?? '').trim().split('\n')[0];
// "TypeError: x is not a function (at CodeBlock, src/components/CodeBlock.tsx:173:40)": the first stack
// frame in the upstream source, if any.
const upstreamFrame = (e) => {
  for (const line of String((e && e.stack) || '').split('\n').slice(1)) {
    const m = line.match(/^\s*at (?:(\S+) \()?.*?\/\.build\/[^/]+\/(src\/[^):]+:\d+:\d+)\)?$/);
    if (m) return ` (at ${m[1] && m[1] !== '<anonymous>' ? `${m[1]}, ` : ''}${m[2]})`;
  }
  return '';
};
const describe = (e) =>
  e && typeof e === 'object' && 'message' in e ? `${e.name || 'Error'}: ${e.message}${upstreamFrame(e)}` : String(e);

// ---- server pass: parse with parse-logs.ts, render with react-dom/server, in plain node ----------
// While the visualizer runs, console.error (React's way of reporting, and the app's) is a failure:
// it goes to `sink`; console.warn goes to `warnings` and is reported, not failed.
const require = createRequire(import.meta.url);
let sink = null;
let warnings = null;
const realConsole = { error: console.error, warn: console.warn };
const onConsole = (level, args) => {
  const text = `console.${level}: ${firstLine(util.format(...args))}`;
  if (level === 'error' && sink) sink.push(text);
  else if (level === 'warn' && warnings) warnings.push(text);
  else realConsole[level](...args);
};
console.error = (...args) => onConsole('error', args);
console.warn = (...args) => onConsole('warn', args);
const ssr = require(path.join(build, 'ssr.cjs'));

const results = [];
for (const file of files) {
  const r = { file, ok: true, errors: [], warnings: [] };
  results.push(r);
  warnings = r.warnings;
  let content;
  try {
    content = fs.readFileSync(file, 'utf8');
  } catch (e) {
    r.errors.push(`reading the file: ${describe(e)}`);
    continue;
  }
  r.content = content;
  const name = path.basename(file);
  let parsed;
  sink = [];
  try {
    parsed = ssr.parse(name, content);
  } catch (e) {
    r.errors.push(`parseLogFile: ${describe(e)}`);
  }
  // parseJSONL logs 'Failed to parse line:' and drops the line; that is a failure too.
  r.errors.push(...sink.map((m) => `parseLogFile: ${m}`));
  if (parsed) {
    const { log, contextVariable } = parsed;
    Object.assign(r, {
      iterations: log.metadata.totalIterations,
      code_blocks: log.metadata.totalCodeBlocks,
      sub_calls: log.metadata.totalSubLMCalls,
      final_answer: log.metadata.finalAnswer === undefined ? null : log.metadata.finalAnswer, // [x] gives undefined
      has_errors: log.metadata.hasErrors,
      context_question: log.metadata.contextQuestion,
      context_variable: contextVariable,
      root_model: log.config.root_model,
      max_depth: log.config.max_depth,
    });
    let views = [];
    try {
      views = ssr.views(log);
    } catch (e) {
      r.errors.push(`server render: building the views: ${describe(e)}`);
    }
    for (const [label, element] of views) {
      sink = [];
      try {
        ssr.renderToString(element);
      } catch (e) {
        r.errors.push(`server render of ${label}: ${describe(e)}`);
      }
      r.errors.push(...sink.map((m) => `server render of ${label}: ${m}`));
    }
  }
  sink = null;
  warnings = null;
}

// ---- client pass: the whole page (Dashboard) in a jsdom window, effects and clicks included -----
// The bundle runs inside the window's own global (as a <script> would), so it sees only browser
// globals. jsdom lacks a few browser APIs the components call; they are stubbed minimally below.
const virtualConsole = new VirtualConsole();
virtualConsole.on('error', (...args) => onConsole('error', args));
virtualConsole.on('warn', (...args) => onConsole('warn', args));
virtualConsole.on('jsdomError', (e) => (sink ? sink.push(`jsdom: ${describe(e)}`) : realConsole.error(e)));
const dom = new JSDOM('<!DOCTYPE html><html lang="en"><head></head><body></body></html>', {
  url: 'http://localhost:3000/',
  pretendToBeVisual: true,
  runScripts: 'outside-only',
  virtualConsole,
});
const w = dom.window;
w.IS_REACT_ACT_ENVIRONMENT = true;
// Browser APIs jsdom does not implement.
w.matchMedia = (query) => ({
  matches: false, media: query, onchange: null,
  addListener() {}, removeListener() {}, addEventListener() {}, removeEventListener() {}, dispatchEvent: () => false,
});
// React's act() and its scheduler queue tasks with MessageChannel (every browser has it); Node's is the same API.
w.MessageChannel = MessageChannel;
w.ResizeObserver = class { observe() {} unobserve() {} disconnect() {} };
w.Element.prototype.scrollIntoView = function () {};
if (!w.Blob.prototype.text) {
  w.Blob.prototype.text = function () {
    return new w.Promise((resolve, reject) => {
      const fr = new w.FileReader();
      fr.onload = () => resolve(fr.result);
      fr.onerror = () => reject(fr.error);
      fr.readAsText(this);
    });
  };
}
// Dashboard asks GET /api/logs for demo logs on mount. The published visualizer has no such route;
// answer as a server with no demo logs would, so the page settles on its upload view.
w.fetch = async (url) =>
  String(url) === '/api/logs'
    ? { ok: true, status: 200, json: async () => ({ files: [] }), text: async () => '{"files":[]}' }
    : { ok: false, status: 404, json: async () => ({}), text: async () => '' };

const clientPath = path.join(build, 'client.js');
new vm.Script(fs.readFileSync(clientPath, 'utf8'), { filename: clientPath }).runInContext(dom.getInternalVMContext());
const client = w.__rlmsHarness;
client.setDescribe(describe);

let failed = 0;
let timedOut = false; // a log still running in the window would disturb the next ones
for (const r of results) {
  if (r.content !== undefined && timedOut) {
    r.errors.push('client render: not run: an earlier log timed out');
  } else if (r.content !== undefined) {
    sink = [];
    warnings = r.warnings;
    let out = { errors: [], shown: null };
    let timer;
    try {
      out = await Promise.race([
        client.runLog(path.basename(r.file), r.content),
        new Promise((_, reject) => {
          timer = setTimeout(() => {
            timedOut = true;
            reject(new Error(`timed out after ${TIMEOUT_S}s (VISUALIZER_TIMEOUT_S)`));
          }, TIMEOUT_S * 1000);
        }),
      ]);
    } catch (e) {
      out.errors.push(describe(e));
    } finally {
      clearTimeout(timer);
    }
    r.errors.push(...out.errors.map((m) => `client render: ${m}`), ...sink.map((m) => `client render: ${m}`));
    r.shown = out.shown;
    sink = null;
    warnings = null;
  }
  delete r.content;
  r.errors = [...new Set(r.errors)];
  r.warnings = [...new Set(r.warnings)];
  r.ok = r.errors.length === 0;
  const { errors, warnings: warned, ...rest } = r;
  process.stdout.write(JSON.stringify({ ...rest, errors, warnings: warned }) + '\n');
  for (const m of warned) realConsole.error(`warning: ${r.file}: ${m}`);
  if (r.ok) {
    realConsole.error(`OK ${r.file} (${r.iterations} iterations, ${r.sub_calls} sub-calls, final answer ${JSON.stringify(r.final_answer)})`);
  } else {
    failed++;
    realConsole.error(`FAIL ${r.file}: ${r.errors[0]}`);
    for (const e of r.errors.slice(1, 8)) realConsole.error(`    ${e}`);
    if (r.errors.length > 8) realConsole.error(`    ... and ${r.errors.length - 8} more`);
  }
}
realConsole.error(`${results.length - failed} passed, ${failed} failed`);
dom.window.close();
process.exit(failed ? 1 : 0);
