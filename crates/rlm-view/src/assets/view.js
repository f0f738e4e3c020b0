// rlm-view: shows the trajectory log embedded in this page (#log-data).
//
// Rules this file keeps:
// - Log text is untrusted (model replies, guest output, tool results). It
//   reaches the page only as text nodes, canvas text or attribute values,
//   never as HTML: there is no innerHTML here.
// - Any key may be missing, null or of another type (old `rlms` logs, logs
//   written by hand, a run cut short). Every read of log data goes through
//   obj/arr/str/num below, which never throw.
// - Big logs stay fast: the tree is a virtual list (only rows on screen
//   exist), the timeline is one canvas, details are built only for the
//   selected node, prompts only when opened, search text on the first search.
'use strict';
(function () {
  // ---- State the sections below share ----------------------------------------

  /** The current search, lowercased ('' for none). */
  let query = '';
  let failuresOnly = false;
  /** Whether the search or the failures filter hides some nodes. */
  let filterOn = false;
  /** The nodes the filter matched, in tree order. */
  let matches = [];

  // ---- Reading log values safely -------------------------------------------

  const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const obj = (v) => (isObj(v) ? v : {});
  const arr = (v) => (Array.isArray(v) ? v : []);
  const has = (o, k) => isObj(o) && Object.prototype.hasOwnProperty.call(o, k);
  const num = (v) =>
    typeof v === 'number' && isFinite(v) ? v : typeof v === 'bigint' ? Number(v) : null;
  /** Text of any value: strings as they are, other values as compact JSON. */
  const str = (v) => (typeof v === 'string' ? v : v == null ? '' : json(v, false, ''));

  /**
   * JSON text of a value. Unlike JSON.stringify it prints BigInt (integers
   * too large for a double, kept exact by the parse below) as written.
   */
  function json(v, pretty, ind) {
    if (typeof v === 'bigint') return v.toString();
    if (Array.isArray(v) || isObj(v)) {
      const isArr = Array.isArray(v);
      const keys = isArr ? null : Object.keys(v);
      const n = isArr ? v.length : keys.length;
      const [open, close] = isArr ? ['[', ']'] : ['{', '}'];
      if (n === 0) return open + close;
      const inner = ind + '  ';
      const parts = [];
      for (let i = 0; i < n; i++) {
        const value = isArr ? v[i] : v[keys[i]];
        const item = json(value, pretty, inner);
        parts.push(isArr ? item : JSON.stringify(keys[i]) + (pretty ? ': ' : ':') + item);
      }
      return pretty
        ? open + '\n' + inner + parts.join(',\n' + inner) + '\n' + ind + close
        : open + parts.join(',') + close;
    }
    const s = JSON.stringify(v);
    return s === undefined ? 'null' : s;
  }

  /**
   * Re-indents JSON text without parsing it, so key order (even of
   * integer-like keys, which JavaScript objects reorder) and every digit
   * stay as written. Text that is not JSON comes back unchanged.
   */
  function reindent(text) {
    const t = text.trim();
    if (!/^[[{]/.test(t)) return text;
    let out = '';
    let depth = 0;
    let inString = false;
    for (let i = 0; i < t.length; i++) {
      const c = t[i];
      if (inString) {
        out += c;
        if (c === '\\') out += t[++i] || '';
        else if (c === '"') inString = false;
        continue;
      }
      if (c === '"') { inString = true; out += c; }
      else if (c === '{' || c === '[') {
        const close = c === '{' ? '}' : ']';
        let j = i + 1;
        while (j < t.length && /\s/.test(t[j])) j++;
        if (t[j] === close) { out += c + close; i = j; continue; }
        depth++;
        out += c + '\n' + '  '.repeat(depth);
      } else if (c === '}' || c === ']') {
        depth = Math.max(0, depth - 1);
        out += '\n' + '  '.repeat(depth) + c;
      } else if (c === ',') out += ',\n' + '  '.repeat(depth);
      else if (c === ':') out += ': ';
      else if (!/\s/.test(c)) out += c;
    }
    return inString || depth !== 0 ? text : out;
  }

  // ---- Formatting -----------------------------------------------------------

  const fmtInt = (n) => Math.round(n).toLocaleString('en-US');
  /** `1 call`, `2 calls`. */
  const count = (n, one, many) => fmtInt(n) + ' ' + (n === 1 ? one : many || one + 's');
  function fmtSecs(s) {
    if (s == null) return '';
    if (s < 1) return Math.round(s * 1000) + ' ms';
    if (s < 120) return s.toFixed(2) + ' s';
    return Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s';
  }
  function fmtCost(c) {
    if (c == null) return '';
    return '$' + (c === 0 ? '0' : c < 0.01 ? String(Number(c.toPrecision(2))) : c.toFixed(4));
  }
  const fmtTokens = (u) => (u && (u.inp || u.out) ? fmtInt(u.inp) + '\u2192' + fmtInt(u.out) + ' tok' : '');
  function oneLine(text, max) {
    const s = text.length > max * 4 ? text.slice(0, max * 4) : text;
    const flat = s.replace(/\s+/g, ' ').trim();
    return flat.length > max ? flat.slice(0, max - 1) + '\u2026' : flat;
  }
  function typeName(v) {
    if (v === null) return 'null';
    if (Array.isArray(v)) return 'list';
    if (isObj(v)) return 'dict';
    if (typeof v === 'bigint') return 'int';
    if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
    if (typeof v === 'boolean') return 'bool';
    return typeof v === 'string' ? 'str' : typeof v;
  }

  // ---- DOM building (text only) --------------------------------------------

  /** An element; string children become text nodes, never markup. */
  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    if (props) {
      for (const k of Object.keys(props)) {
        const v = props[k];
        if (v == null || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'data') Object.assign(el.dataset, v);
        else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, String(v));
      }
    }
    for (const kid of kids.flat(4)) {
      if (kid == null || kid === false) continue;
      el.append(kid instanceof Node ? kid : String(kid));
    }
    return el;
  }

  /** Marks each match of the current search in text, at most MAX_MARKS times. */
  const MAX_MARKS = 500;
  function hl(text) {
    if (!query || !text) return document.createTextNode(text);
    const lower = text.toLowerCase();
    // Some characters change length when lowercased; then indices would not line up.
    if (lower.length !== text.length) return document.createTextNode(text);
    const frag = document.createDocumentFragment();
    let at = 0;
    let marks = 0;
    for (let i = lower.indexOf(query); i !== -1 && marks < MAX_MARKS; i = lower.indexOf(query, at)) {
      if (i > at) frag.append(text.slice(at, i));
      frag.append(h('mark', null, text.slice(i, i + query.length)));
      at = i + query.length;
      marks++;
    }
    frag.append(text.slice(at));
    return frag;
  }

  /** Long output is cut at first, with a button to show all of it. */
  const MAX_TEXT = 100000;
  function textBlock(text, cls) {
    if (!text) return h('pre', { class: 'empty' }, '(empty)');
    const pre = h('pre', { class: cls || null });
    if (text.length <= MAX_TEXT) {
      pre.append(hl(text));
      return pre;
    }
    pre.append(hl(text.slice(0, MAX_TEXT)));
    const more = h('button', {
      class: 'more', type: 'button',
      onclick: () => pre.replaceChildren(hl(text)),
    }, 'show all ' + fmtInt(text.length) + ' characters');
    pre.append(more);
    return pre;
  }

  function facts(pairs) {
    const dl = h('dl', { class: 'facts' });
    for (const [k, v] of pairs) {
      if (v == null || v === '') continue;
      dl.append(h('dt', null, k), h('dd', null, v instanceof Node ? v : hl(String(v))));
    }
    return dl;
  }

  // ---- The log ----------------------------------------------------------------

  /**
   * Integers beyond 2^53 become BigInt so answers show every digit, where
   * the browser tells a reviver the source text (ES2025); elsewhere they
   * are rounded.
   */
  function parseLog() {
    const text = document.getElementById('log-data').textContent;
    let lines;
    try {
      lines = JSON.parse(text, function (key, value, context) {
        if (typeof value === 'number' && !Number.isSafeInteger(value) && context &&
            typeof context.source === 'string' && /^-?\d+$/.test(context.source)) {
          return BigInt(context.source);
        }
        return value;
      });
    } catch (e) {
      lines = JSON.parse(text);
    }
    return Array.isArray(lines) ? lines : [lines];
  }

  const LIMIT_KINDS = new Set([
    'fuel_exhausted', 'timeout', 'memory_limit', 'output_limit', 'host_call_limit', 'size_limit',
  ]);
  /** `bad` for failures, `limit` for a limit that stopped a cell. */
  const errClass = (kind) => (LIMIT_KINDS.has(kind) ? 'limit' : 'bad');

  /** A sub-call's own run (a sub-RLM), where the log nests one. */
  function childRun(c) {
    const m = obj(c.metadata);
    if (Array.isArray(m.iterations)) return { meta: obj(m.run_metadata), iterations: m.iterations };
    // Earlier logs of this project nested the run as `trajectory`.
    const t = obj(c.trajectory);
    if (Array.isArray(t.iterations)) return { meta: t, iterations: t.iterations };
    return null;
  }

  function callKind(c) {
    const k = c.kind;
    if (k === 'llm' || k === 'rlm' || k === 'tool') return k;
    return childRun(c) ? 'rlm' : 'llm';
  }

  /** Tokens, calls and cost from an `rlms` usage summary. */
  function usageSummary(u) {
    u = obj(u);
    const out = { inp: 0, out: 0, calls: 0, cost: null, models: [] };
    for (const [model, s] of Object.entries(obj(u.model_usage_summaries))) {
      const o = obj(s);
      out.models.push(model);
      out.inp += num(o.total_input_tokens) || 0;
      out.out += num(o.total_output_tokens) || 0;
      out.calls += num(o.total_calls) || 0;
      const c = num(o.total_cost);
      if (c != null) out.cost = (out.cost || 0) + c;
    }
    const total = num(u.total_cost);
    if (total != null) out.cost = total;
    return out;
  }

  /** The answer of one iteration, preferring the raw `answer`. */
  function iterAnswer(it) {
    if (has(it, 'answer') && it.answer !== null) {
      const raw = typeof it.answer !== 'string' && typeof it.final_answer === 'string' ? it.final_answer : null;
      return { value: it.answer, raw };
    }
    const fa = it.final_answer;
    // Very old `rlms` logs wrote the answer as a pair: [how it was given, the answer].
    if (Array.isArray(fa) && fa.length === 2) return { value: fa[1], legacy: fa[0] };
    if (fa != null) return { value: fa };
    for (const b of arr(it.code_blocks)) {
      const r = obj(obj(b).result);
      if (r.final_answer != null) return { value: r.final_answer };
    }
    return null;
  }

  function runAnswer(iterations) {
    for (let i = iterations.length - 1; i >= 0; i--) {
      const a = iterAnswer(obj(iterations[i]));
      if (a) return a;
    }
    return null;
  }

  // ---- The tree -----------------------------------------------------------------

  /** Every node, in tree (depth-first) order. */
  const nodes = [];
  function mkNode(type, parent) {
    const n = {
      id: nodes.length, type, parent, children: [], expanded: false, level: 0,
      bad: false, warn: false, badBelow: 0, warnBelow: 0, match: false, show: false,
      // Built on first use: the search text, and the row's preview and figures.
      hay: null, preview: null, rowMeta: null,
    };
    nodes.push(n);
    if (parent) parent.children.push(n);
    return n;
  }

  const lines = parseLog();
  const metaLine = lines.find((l) => obj(l).type === 'metadata');
  const rootMeta = obj(metaLine);
  const rootIterations = lines.filter((l) =>
    isObj(l) && (l.type === 'iteration' ||
      (l.type === undefined && (has(l, 'code_blocks') || has(l, 'response')))));
  const ignoredLines = lines.length - rootIterations.length - (metaLine ? 1 : 0);

  const counts = { llm: 0, rlm: 0, tool: 0, failed: 0 };

  function buildRun(runNode, iterations, depth) {
    iterations.forEach((raw, index) => {
      const it = obj(raw);
      const itn = mkNode('iter', runNode);
      itn.it = it;
      itn.n = num(it.iteration) != null ? num(it.iteration) : index + 1;
      itn.depth = num(it.depth) != null ? num(it.depth) : depth;
      itn.badges = [];
      if (typeof it.error === 'string' && it.error) {
        itn.bad = true;
        itn.badges.push({ text: oneLine(it.error, 40), cls: 'bad' });
      }
      let callNo = 0;
      arr(it.code_blocks).forEach((rawBlock, blockIndex) => {
        const r = obj(obj(rawBlock).result);
        const err = obj(r.error);
        if (isObj(r.error) || (typeof r.error === 'string' && r.error)) {
          const kind = typeof err.kind === 'string' && err.kind ? err.kind : 'error';
          const cls = errClass(kind);
          if (cls === 'bad') itn.bad = true; else itn.warn = true;
          itn.badges.push({ text: kind, cls });
        }
        if (r.state_lost === true) {
          itn.warn = true;
          itn.badges.push({ text: 'state lost', cls: 'limit' });
        }
        arr(r.rlm_calls).forEach((rawCall) => {
          const c = obj(rawCall);
          const cn = mkNode('call', itn);
          cn.c = c;
          cn.no = ++callNo;
          cn.block = blockIndex;
          cn.kind = callKind(c);
          cn.depth = num(c.depth) != null ? num(c.depth) : itn.depth + 1;
          cn.usage = usageSummary(c.usage_summary);
          cn.time = num(c.execution_time);
          cn.model = str(c.root_model) || cn.usage.models[0] || '';
          cn.badges = [];
          counts[cn.kind]++;
          const error = c.error;
          if (error != null && error !== false && error !== '') {
            cn.bad = true;
            cn.badges.push({ text: 'failed', cls: 'bad' });
          }
          const child = childRun(c);
          if (child) {
            cn.meta = child.meta;
            buildRun(cn, child.iterations, cn.depth);
            cn.answer = has(c, 'answer') && c.answer !== null ? { value: c.answer } : runAnswer(child.iterations);
            if (!cn.answer && !cn.bad) {
              cn.warn = true;
              cn.badges.push({ text: 'no answer', cls: 'limit' });
            }
          }
        });
      });
      if (iterAnswer(it)) itn.badges.push({ text: 'answer', cls: 'ok' });
    });
  }

  const root = mkNode('run', null);
  root.meta = rootMeta;
  root.depth = 0;
  root.expanded = true;
  buildRun(root, rootIterations, 0);
  root.answer = runAnswer(rootIterations);
  for (const n of root.children) n.expanded = true;

  // Failures and limit stops below a node, so a collapsed sub-RLM still
  // shows it hides some.
  for (let i = nodes.length - 1; i > 0; i--) {
    const n = nodes[i];
    if (n.bad) counts.failed++;
    n.parent.badBelow += n.badBelow + (n.bad ? 1 : 0);
    n.parent.warnBelow += n.warnBelow + (n.warn && !n.bad ? 1 : 0);
  }

  /** Token and cost totals of a run: its own model calls plus its direct sub-calls. */
  function runTotals(runNode) {
    const t = { inp: 0, out: 0, cost: null, time: 0, calls: 0 };
    for (const itn of runNode.children) {
      const u = obj(itn.it.usage);
      t.inp += num(u.input_tokens) || 0;
      t.out += num(u.output_tokens) || 0;
      const ic = num(u.cost);
      if (ic != null) t.cost = (t.cost || 0) + ic;
      t.time += num(itn.it.iteration_time) || 0;
      for (const cn of itn.children) {
        t.calls++;
        t.inp += cn.usage.inp;
        t.out += cn.usage.out;
        if (cn.usage.cost != null) t.cost = (t.cost || 0) + cn.usage.cost;
      }
    }
    return t;
  }

  // ---- Header -------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  function stat(id, key, value, shown, cls) {
    return h('span', { class: 'stat' + (cls ? ' ' + cls : ''), id, data: { value: String(value) } },
      key, h('span', { class: 'v' }, shown));
  }

  function renderHeader() {
    const t = runTotals(root);
    const total = counts.llm + counts.rlm + counts.tool;
    const kinds = ['llm', 'rlm', 'tool'].filter((k) => counts[k]).map((k) => fmtInt(counts[k]) + ' ' + k);
    const model = str(rootMeta.root_model) || str(obj(rootMeta.backend_kwargs).model_name);
    const stats = [
      stat('stat-model', 'model', model, model || '?'),
      stat('stat-iterations', 'iterations', rootIterations.length, fmtInt(rootIterations.length)),
      stat('stat-calls', 'sub-calls', total, fmtInt(total) + (kinds.length > 1 ? ' (' + kinds.join(', ') + ')' : '')),
      stat('stat-failures', 'failures', counts.failed, fmtInt(counts.failed), counts.failed ? 'bad' : null),
      stat('stat-tokens', 'tokens', t.inp + t.out, fmtInt(t.inp) + ' in / ' + fmtInt(t.out) + ' out'),
    ];
    if (t.cost != null) stats.push(stat('stat-cost', 'cost', t.cost, fmtCost(t.cost)));
    if (t.time) stats.push(stat('stat-time', 'time', t.time, fmtSecs(t.time)));
    const maxDepth = nodes.reduce((m, n) => Math.max(m, n.type === 'call' ? n.depth : 0), 0);
    stats.push(stat('stat-depth', 'deepest call', maxDepth, String(maxDepth)));
    if (ignoredLines) stats.push(stat('stat-ignored', 'lines not understood', ignoredLines, fmtInt(ignoredLines), 'bad'));
    $('stats').replaceChildren(...stats);

    const status = $('run-status');
    const last = obj(rootIterations[rootIterations.length - 1]);
    if (root.answer) {
      status.textContent = 'answered';
      status.className = 'pill ok';
    } else {
      status.textContent = typeof last.error === 'string' && last.error ? 'no answer: ' + oneLine(last.error, 60) : 'no answer';
      status.className = 'pill bad';
    }
  }

  // ---- The tree view (a virtual list) --------------------------------------------

  const ROW_H = 24;
  const OVERSCAN = 12;
  const treeEl = $('tree');
  const spacer = $('tree-spacer');
  const rowsEl = $('tree-rows');
  let visible = [];
  let selected = root;

  function flatten() {
    visible = [];
    const stack = [[root, 0]];
    while (stack.length) {
      const [n, level] = stack.pop();
      if (filterOn && !n.show) continue;
      n.level = level;
      visible.push(n);
      if (n.expanded) for (let i = n.children.length - 1; i >= 0; i--) stack.push([n.children[i], level + 1]);
    }
    spacer.style.height = visible.length * ROW_H + 'px';
    treeEl.dataset.rows = String(visible.length);
    drawRows();
  }

  function label(n) {
    if (n.type === 'run') return 'root';
    if (n.type === 'iter') return 'iteration ' + n.n;
    return '#' + n.no + ' ' + (n.model || n.kind);
  }

  function rowMeta(n) {
    const parts = [];
    if (n.type === 'run') {
      const t = runTotals(n);
      parts.push(fmtInt(n.children.length) + ' it', count(t.calls, 'call'));
      if (t.inp || t.out) parts.push(fmtTokens(t));
      if (t.cost != null) parts.push(fmtCost(t.cost));
      if (t.time) parts.push(fmtSecs(t.time));
    } else if (n.type === 'iter') {
      const blocks = arr(n.it.code_blocks).length;
      if (blocks) parts.push(count(blocks, 'block'));
      if (n.children.length) parts.push(count(n.children.length, 'call'));
      const t = num(n.it.iteration_time);
      if (t != null) parts.push(fmtSecs(t));
    } else {
      if (n.kind === 'rlm') parts.push(n.children.length + ' it');
      const tok = fmtTokens(n.usage);
      if (tok) parts.push(tok);
      if (n.usage.cost != null) parts.push(fmtCost(n.usage.cost));
      if (n.time != null) parts.push(fmtSecs(n.time));
      parts.push('d' + n.depth);
    }
    return parts.join(' \u00b7 ');
  }

  function preview(n) {
    if (n.type === 'call') return oneLine(str(n.c.prompt), 160);
    if (n.type === 'iter') return oneLine(str(n.it.response), 160);
    return oneLine(str(rootMeta.query), 160);
  }

  function makeRow(n, index) {
    const cls = ['row', n.type];
    if (n.bad) cls.push('bad'); else if (n.warn) cls.push('warn');
    if (n === selected) cls.push('sel');
    if (filterOn && !n.match && n.type !== 'run') cls.push('dim');
    const row = h('div', { class: cls.join(' '), role: 'treeitem', data: { id: String(n.id) } },
      h('span', { class: 'tog' }, n.children.length ? (n.expanded ? '\u25be' : '\u25b8') : ''),
      n.type === 'iter' ? null : h('span', { class: 'kind ' + (n.type === 'run' ? 'run' : n.kind) }, n.type === 'run' ? 'run' : n.kind),
      h('span', { class: 'label' }, label(n)),
      (n.badges || []).slice(0, 4).map((b) => h('span', { class: 'badge ' + b.cls }, b.text)),
      !n.expanded && n.badBelow + n.warnBelow
        ? h('span', { class: 'badge ' + (n.badBelow ? 'bad' : 'limit'), title: 'failures and limit stops inside' }, '\u26a0 ' + (n.badBelow + n.warnBelow))
        : null,
      h('span', { class: 'preview' }, n.preview != null ? n.preview : (n.preview = preview(n))),
      h('span', { class: 'meta' }, n.rowMeta != null ? n.rowMeta : (n.rowMeta = rowMeta(n))));
    row.style.top = index * ROW_H + 'px';
    row.style.paddingLeft = 4 + n.level * 16 + 'px';
    return row;
  }

  let drawQueued = false;
  function drawRows() {
    const top = treeEl.scrollTop;
    const height = treeEl.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const last = Math.min(visible.length, Math.ceil((top + height) / ROW_H) + OVERSCAN);
    const rows = [];
    for (let i = first; i < last; i++) rows.push(makeRow(visible[i], i));
    rowsEl.replaceChildren(...rows);
  }
  treeEl.addEventListener('scroll', () => {
    if (drawQueued) return;
    drawQueued = true;
    requestAnimationFrame(() => { drawQueued = false; drawRows(); });
  });

  function toggle(n, open) {
    if (!n.children.length) return;
    n.expanded = open == null ? !n.expanded : open;
    flatten();
  }

  function scrollToNode(n) {
    const i = visible.indexOf(n);
    if (i < 0) return;
    const top = i * ROW_H;
    if (top < treeEl.scrollTop) treeEl.scrollTop = top;
    else if (top + ROW_H > treeEl.scrollTop + treeEl.clientHeight) treeEl.scrollTop = top + ROW_H - treeEl.clientHeight;
  }

  function select(n) {
    let opened = false;
    for (let p = n.parent; p; p = p.parent) {
      if (!p.expanded) { p.expanded = true; opened = true; }
    }
    if (filterOn && !n.show) {
      // Selecting a node the filter hides (from the timeline or a link) shows it.
      for (let p = n; p && !p.show; p = p.parent) p.show = true;
      opened = true;
    }
    selected = n;
    if (opened) flatten();
    scrollToNode(n);
    drawRows();
    renderDetail();
    drawTimeline();
  }

  rowsEl.addEventListener('click', (e) => {
    const row = e.target.closest('.row');
    if (!row) return;
    const n = nodes[Number(row.dataset.id)];
    if (!n) return;
    if (e.target.classList.contains('tog')) toggle(n);
    else select(n);
  });
  rowsEl.addEventListener('dblclick', (e) => {
    const row = e.target.closest('.row');
    if (row && !e.target.classList.contains('tog')) toggle(nodes[Number(row.dataset.id)]);
  });
  treeEl.addEventListener('keydown', (e) => {
    const i = visible.indexOf(selected);
    let next = null;
    if (e.key === 'ArrowDown') next = visible[Math.min(visible.length - 1, i + 1)];
    else if (e.key === 'ArrowUp') next = visible[Math.max(0, i - 1)];
    else if (e.key === 'Home') next = visible[0];
    else if (e.key === 'End') next = visible[visible.length - 1];
    else if (e.key === 'ArrowRight') {
      if (selected.children.length && !selected.expanded) toggle(selected, true);
      else next = selected.children.find((c) => !filterOn || c.show) || null;
    } else if (e.key === 'ArrowLeft') {
      if (selected.expanded && selected.children.length) toggle(selected, false);
      else next = selected.parent;
    } else if (e.key === 'Enter') toggle(selected);
    else return;
    e.preventDefault();
    if (next) select(next);
  });

  // ---- Details ---------------------------------------------------------------------

  const detailEl = $('detail');

  function crumbs(n) {
    const path = [];
    for (let p = n; p; p = p.parent) path.unshift(p);
    const el = h('div', { class: 'crumbs' });
    path.forEach((p, i) => {
      if (i) el.append(' \u203a ');
      if (p === n) el.append(label(p));
      else el.append(h('a', { onclick: () => select(p) }, p.type === 'call' ? label(p) + ' (' + p.kind + ')' : label(p)));
    });
    return el;
  }

  function answerBlock(answer) {
    if (!answer) return h('pre', { class: 'empty', id: 'answer', data: { type: 'none' } }, 'no answer');
    const v = answer.value;
    let text;
    if (typeof v === 'string') text = v;
    else if (answer.raw != null) text = reindent(answer.raw);
    else text = json(v, true, '');
    const pre = h('pre', { id: 'answer', data: { type: typeName(v) } });
    pre.append(hl(text));
    return pre;
  }

  function answerSection(answer, title) {
    const kids = [h('h3', null, title, answer ? ' (' + typeName(answer.value) + ')' : '')];
    if (answer && answer.legacy != null) kids.push(h('div', { class: 'note' }, 'from an older log: given as ' + str(answer.legacy)));
    kids.push(answerBlock(answer));
    return kids;
  }

  function callTable(calls, limit) {
    const table = h('table', { class: 'list' },
      h('tr', null, ['#', 'kind', 'model', 'prompt', 'tokens', 'time'].map((t) => h('th', null, t))));
    for (const cn of calls.slice(0, limit)) {
      table.append(h('tr', { class: 'link' + (cn.bad ? ' bad' : ''), onclick: () => select(cn) },
        h('td', null, String(cn.no)),
        h('td', null, cn.kind),
        h('td', null, cn.model),
        h('td', { class: 'clip' }, hl(oneLine(str(cn.c.prompt), 120))),
        h('td', null, fmtTokens(cn.usage)),
        h('td', null, fmtSecs(cn.time))));
    }
    const kids = [table];
    if (calls.length > limit) kids.push(h('div', { class: 'note' }, '\u2026 and ' + fmtInt(calls.length - limit) + ' more in the tree'));
    return kids;
  }

  function iterationTable(runNode) {
    const table = h('table', { class: 'list' },
      h('tr', null, ['iteration', 'time', 'blocks', 'calls', 'status'].map((t) => h('th', null, t))));
    for (const itn of runNode.children) {
      table.append(h('tr', { class: 'link' + (itn.bad ? ' bad' : ''), onclick: () => select(itn) },
        h('td', null, String(itn.n)),
        h('td', null, fmtSecs(num(itn.it.iteration_time))),
        h('td', null, String(arr(itn.it.code_blocks).length)),
        h('td', null, fmtInt(itn.children.length)),
        h('td', null, itn.badges.map((b) => b.text).join(', '))));
    }
    return table;
  }

  function metaTable(meta) {
    const pairs = Object.keys(meta).filter((k) => k !== 'type').map((k) => {
      const v = meta[k];
      const text = str(v);
      return [k, text.length > 300 ? textBlock(typeof v === 'string' ? v : json(v, true, '')) : text];
    });
    return facts(pairs);
  }

  function runSection(runNode, meta) {
    const t = runTotals(runNode);
    return [
      h('h3', null, 'Run'),
      facts([
        ['iterations', fmtInt(runNode.children.length)],
        ['sub-calls', fmtInt(t.calls)],
        ['tokens', t.inp || t.out ? fmtInt(t.inp) + ' in / ' + fmtInt(t.out) + ' out' : null],
        ['cost', fmtCost(t.cost)],
        ['time', t.time ? fmtSecs(t.time) : null],
      ]),
      Object.keys(meta).length ? [h('h3', null, 'Metadata'), metaTable(meta)] : null,
      h('h3', null, 'Iterations'),
      runNode.children.length ? iterationTable(runNode) : h('div', { class: 'note' }, 'no iterations'),
    ];
  }

  function renderRun(n) {
    return [
      h('h2', null, h('span', { class: 'kind run' }, 'run'), 'root', rootMeta.root_model != null ? ' \u00b7 ' + str(rootMeta.root_model) : ''),
      has(rootMeta, 'query') ? [h('h3', null, 'Query'), textBlock(str(rootMeta.query))] : null,
      answerSection(n.answer, 'Final answer'),
      runSection(n, rootMeta),
    ];
  }

  function messageEl(m, open) {
    const o = isObj(m) ? m : { content: m };
    const content = typeof o.content === 'string' ? o.content : json(o.content, true, '');
    const d = h('details', { class: 'msg' },
      h('summary', null, (str(o.role) || 'message') + ' \u00b7 ' + count(content.length, 'char')));
    let built = false;
    d.addEventListener('toggle', () => {
      if (d.open && !built) { built = true; d.append(textBlock(content)); }
    });
    if (open || (query && content.toLowerCase().includes(query))) d.open = true;
    return d;
  }

  function promptSection(prompt, title) {
    const msgs = Array.isArray(prompt) ? prompt : prompt == null ? [] : [{ role: 'prompt', content: prompt }];
    const chars = msgs.reduce((s, m) => s + str(isObj(m) ? m.content : m).length, 0);
    const d = h('details', { class: 'prompt' },
      h('summary', null, title + ' \u00b7 ' + count(msgs.length, 'message') + ' \u00b7 ' + count(chars, 'char')));
    let built = false;
    d.addEventListener('toggle', () => {
      if (d.open && !built) {
        built = true;
        msgs.forEach((m, i) => d.append(messageEl(m, i === msgs.length - 1)));
      }
    });
    if (query && msgs.some((m) => str(isObj(m) ? m.content : m).toLowerCase().includes(query))) d.open = true;
    return d;
  }

  function blockEl(rawBlock, index, itn) {
    const b = obj(rawBlock);
    const r = obj(b.result);
    const err = r.error;
    const errKind = isObj(err) ? str(err.kind) || 'error' : typeof err === 'string' && err ? 'error' : null;
    const cls = errKind ? errClass(errKind) : null;
    const head = h('div', { class: 'block-head' }, 'block ' + (index + 1),
      errKind ? h('span', { class: 'badge ' + cls }, errKind) : null,
      r.state_lost === true ? h('span', { class: 'badge limit', title: 'the sandbox was restarted; variables are gone' }, 'state lost') : null,
      h('span', { class: 'meta' }, [
        num(r.execution_time) != null ? fmtSecs(num(r.execution_time)) : '',
        num(r.fuel_used) != null ? 'fuel ' + fmtInt(num(r.fuel_used)) : '',
      ].filter(Boolean).join(' \u00b7 ')));
    const calls = itn.children.filter((cn) => cn.block === index);
    const locals = obj(r.locals);
    return h('div', { class: 'block' + (cls ? ' ' + cls : ''), data: { block: String(index) } },
      head,
      h('div', { class: 'label-small' }, 'code'),
      textBlock(str(b.code), 'code'),
      h('div', { class: 'label-small' }, 'stdout'),
      textBlock(str(r.stdout), 'stdout'),
      r.stderr ? [h('div', { class: 'label-small' }, 'stderr'), textBlock(str(r.stderr), 'stderr')] : null,
      errKind ? [h('div', { class: 'label-small' }, 'error: ' + errKind),
        textBlock(isObj(err) ? str(err.message) : str(err), cls === 'limit' ? 'limit' : 'err')] : null,
      Object.keys(locals).length ? [h('div', { class: 'label-small' }, 'variables'),
        facts(Object.keys(locals).slice(0, 200).map((k) => [k, str(locals[k])]))] : null,
      calls.length ? [h('div', { class: 'label-small' }, count(calls.length, 'sub-call')), callTable(calls, 200)] : null,
      r.final_answer != null ? [h('div', { class: 'label-small' }, 'final answer'), textBlock(str(r.final_answer))] : null);
  }

  function renderIter(n) {
    const it = n.it;
    const u = obj(it.usage);
    const tokens = num(u.input_tokens) != null || num(u.output_tokens) != null
      ? fmtInt(num(u.input_tokens) || 0) + ' in / ' + fmtInt(num(u.output_tokens) || 0) + ' out' : null;
    const notes = arr(it.notes);
    const answer = iterAnswer(it);
    return [
      crumbs(n),
      h('h2', null, 'Iteration ' + n.n, n.badges.map((b) => h('span', { class: 'badge ' + b.cls }, b.text))),
      facts([
        ['depth', String(n.depth)],
        ['time', fmtSecs(num(it.iteration_time))],
        ['tokens', tokens],
        ['finish reason', it.finish_reason != null ? str(it.finish_reason) : null],
        ['timestamp', it.timestamp != null ? str(it.timestamp) : null],
      ]),
      typeof it.error === 'string' && it.error ? h('div', { class: 'errbox', id: 'iteration-error' }, hl(it.error)) : null,
      promptSection(it.prompt, 'Prompt'),
      it.reasoning != null && it.reasoning !== '' ? [h('h3', null, 'Reasoning'), textBlock(str(it.reasoning), 'reasoning')] : null,
      h('h3', null, 'Response'),
      textBlock(str(it.response), 'response'),
      notes.length ? [h('h3', null, 'Notes'), h('ul', { class: 'notes' }, notes.map((x) => h('li', null, hl(str(x)))))] : null,
      arr(it.code_blocks).length ? h('h3', null, 'Code blocks') : null,
      arr(it.code_blocks).map((b, i) => blockEl(b, i, n)),
      answer ? answerSection(answer, 'Answer') : null,
    ];
  }

  function renderCall(n) {
    const c = n.c;
    const kindName = { llm: 'model call', rlm: 'sub-RLM', tool: 'tool call' }[n.kind];
    const parts = [
      crumbs(n),
      h('h2', null, h('span', { class: 'kind ' + n.kind }, n.kind), '#' + n.no + ' ' + kindName + (n.model ? ' \u00b7 ' + n.model : ''),
        n.badges.map((b) => h('span', { class: 'badge ' + b.cls }, b.text))),
      facts([
        [n.kind === 'tool' ? 'tool' : 'model', n.model],
        ['depth', String(n.depth)],
        ['latency', fmtSecs(n.time)],
        ['started', num(c.start_time) != null ? fmtSecs(num(c.start_time)) + ' after the root began' : null],
        ['tokens', n.usage.inp || n.usage.out ? fmtInt(n.usage.inp) + ' in / ' + fmtInt(n.usage.out) + ' out' : null],
        ['model calls', n.usage.calls ? fmtInt(n.usage.calls) : null],
        ['cost', fmtCost(n.usage.cost)],
        ['models', n.usage.models.length > 1 ? n.usage.models.join(', ') : null],
      ]),
    ];
    if (c.error != null && c.error !== '') parts.push(h('div', { class: 'errbox', id: 'call-error' }, hl(str(c.error))));
    const prompt = c.prompt;
    parts.push(h('h3', null, n.kind === 'rlm' ? 'Context' : n.kind === 'tool' ? 'Arguments' : 'Prompt'),
      Array.isArray(prompt) && prompt.every((m) => isObj(m) && has(m, 'role'))
        ? promptSection(prompt, 'Messages')
        : textBlock(typeof prompt === 'string' ? prompt : json(prompt, true, '')));
    if (n.kind === 'rlm') {
      parts.push(answerSection(n.answer, 'Answer'));
      if (c.response != null && !(n.answer && str(n.answer.value) === str(c.response))) {
        parts.push(h('h3', null, 'Response'), textBlock(str(c.response)));
      }
      if (n.meta) parts.push(runSection(n, n.meta));
    } else {
      parts.push(h('h3', null, 'Response'));
      if (has(c, 'answer') && c.answer !== null && typeof c.answer !== 'string') parts.push(textBlock(json(c.answer, true, '')));
      else parts.push(textBlock(str(c.response)));
    }
    return parts;
  }

  function renderDetail() {
    const n = selected;
    let kids;
    try {
      kids = n.type === 'run' ? renderRun(n) : n.type === 'iter' ? renderIter(n) : renderCall(n);
    } catch (e) {
      // Keep the rest of the page usable; the console keeps the cause.
      console.error('rlm-view: could not show this node', e);
      kids = [h('div', { class: 'errbox' }, 'This part of the log could not be shown: ' + String(e))];
    }
    detailEl.replaceChildren(...kids.flat(4).filter((k) => k != null && k !== false));
    detailEl.dataset.node = n.type;
    detailEl.scrollTop = 0;
  }

  // ---- Search and the failures filter ----------------------------------------------

  /** The lowercased text a search looks in; prompts are left out, as every iteration repeats them. */
  function hay(n) {
    if (n.hay != null) return n.hay;
    const parts = [];
    if (n.type === 'call') {
      const c = n.c;
      parts.push(n.kind, n.model, str(c.prompt), str(c.response), str(c.error));
      if (has(c, 'answer')) parts.push(str(c.answer));
    } else if (n.type === 'iter') {
      const it = n.it;
      parts.push(str(it.response), str(it.reasoning), str(it.error), str(it.final_answer));
      for (const x of arr(it.notes)) parts.push(str(x));
      for (const b of arr(it.code_blocks)) {
        const r = obj(obj(b).result);
        parts.push(str(obj(b).code), str(r.stdout), str(r.stderr), str(r.error));
      }
    }
    n.hay = parts.join('\n').toLowerCase();
    return n.hay;
  }

  function applyFilter() {
    filterOn = query !== '' || failuresOnly;
    matches = [];
    for (const n of nodes) { n.match = false; n.show = false; }
    if (filterOn) {
      for (const n of nodes) {
        if (n.type === 'run') continue;
        if (failuresOnly && !(n.bad || n.warn)) continue;
        if (query && !hay(n).includes(query)) continue;
        n.match = true;
        n.show = true;
        matches.push(n);
        for (let p = n.parent; p && !(p.show && p.expanded); p = p.parent) {
          p.show = true;
          p.expanded = true;
        }
      }
      root.show = true;
    }
    const counter = $('search-count');
    counter.dataset.value = String(matches.length);
    counter.textContent = filterOn ? fmtInt(matches.length) + (matches.length === 1 ? ' match' : ' matches') : '';
    flatten();
    renderDetail();
    drawTimeline();
  }

  function jump(step) {
    if (!matches.length) return;
    const at = matches.indexOf(selected);
    const next = at < 0 ? (step > 0 ? 0 : matches.length - 1) : (at + step + matches.length) % matches.length;
    select(matches[next]);
  }

  let searchTimer = 0;
  $('search').addEventListener('input', (e) => {
    clearTimeout(searchTimer);
    const value = e.target.value.trim().toLowerCase();
    // Wait for a pause in typing: each search walks every node.
    searchTimer = setTimeout(() => { query = value; applyFilter(); }, 120);
  });
  $('search').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      clearTimeout(searchTimer);
      const value = e.target.value.trim().toLowerCase();
      if (value !== query) { query = value; applyFilter(); }
      jump(e.shiftKey ? -1 : 1);
    } else if (e.key === 'Escape') {
      e.target.value = '';
      query = '';
      applyFilter();
    }
  });
  $('search-next').addEventListener('click', () => jump(1));
  $('search-prev').addEventListener('click', () => jump(-1));
  $('failures-only').addEventListener('change', (e) => { failuresOnly = e.target.checked; applyFilter(); });
  $('expand-all').addEventListener('click', () => { for (const n of nodes) n.expanded = true; flatten(); });
  $('collapse-all').addEventListener('click', () => {
    for (const n of nodes) n.expanded = false;
    root.expanded = true;
    flatten();
  });

  // ---- Timeline -------------------------------------------------------------------------

  const TL = { items: [], bands: [], groups: [], total: 0, height: 0, sequential: 0, laneH: 12 };
  const timelineEl = $('timeline');
  const canvas = $('tl-canvas');
  const tlScroll = $('tl-scroll');
  const tip = $('tl-tip');
  const AXIS_H = 18;
  const BAND_H = 14;
  const GROUP_H = 14;
  const PAD_L = 8;
  const PAD_R = 12;

  /**
   * Places every sub-call in time: at its `start_time` when the log has one,
   * else (as in `rlms` logs) one after another from where its iteration or
   * parent call began.
   */
  function layoutRun(runNode, start, isRoot) {
    let t = start;
    for (const itn of runNode.children) {
      const itStart = t;
      let cursor = t;
      for (const cn of itn.children) {
        let s = num(cn.c.start_time);
        const d = Math.max(0, cn.time || 0);
        if (s == null) {
          s = cursor;
          cursor += d;
          TL.sequential++;
        }
        TL.items.push({ n: cn, s, d, depth: cn.depth });
        if (cn.children.length) layoutRun(cn, s, false);
      }
      const span = Math.max(num(itn.it.iteration_time) || 0, cursor - itStart);
      if (isRoot) TL.bands.push({ n: itn, s: itStart, d: span });
      t = itStart + span;
    }
    return t;
  }

  /** Packs intervals into lanes with a min-heap of lane end times: O(n log n). */
  function packLanes(items) {
    items.sort((a, b) => a.s - b.s || b.d - a.d);
    const heap = [];
    const lanes = [];
    const push = (e) => {
      heap.push(e);
      for (let i = heap.length - 1; i > 0;) {
        const p = (i - 1) >> 1;
        if (heap[p][0] <= heap[i][0]) break;
        [heap[p], heap[i]] = [heap[i], heap[p]];
        i = p;
      }
    };
    const pop = () => {
      const top = heap[0];
      const last = heap.pop();
      if (heap.length) {
        heap[0] = last;
        for (let i = 0; ;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < heap.length && heap[l][0] < heap[m][0]) m = l;
          if (r < heap.length && heap[r][0] < heap[m][0]) m = r;
          if (m === i) break;
          [heap[m], heap[i]] = [heap[i], heap[m]];
          i = m;
        }
      }
      return top;
    };
    for (const item of items) {
      let lane;
      if (heap.length && heap[0][0] <= item.s) lane = pop()[1];
      else { lane = lanes.length; lanes.push([]); }
      lanes[lane].push(item);
      item.lane = lane;
      push([item.s + item.d, lane]);
    }
    return lanes;
  }

  function buildTimeline() {
    layoutRun(root, 0, true);
    const byDepth = new Map();
    for (const item of TL.items) {
      if (!byDepth.has(item.depth)) byDepth.set(item.depth, []);
      byDepth.get(item.depth).push(item);
      TL.total = Math.max(TL.total, item.s + item.d);
    }
    for (const b of TL.bands) TL.total = Math.max(TL.total, b.s + b.d);
    if (!(TL.total > 0)) TL.total = 1;
    let laneCount = 0;
    for (const depth of [...byDepth.keys()].sort((a, b) => a - b)) {
      const lanes = packLanes(byDepth.get(depth));
      laneCount += lanes.length;
      TL.groups.push({ depth, lanes, count: byDepth.get(depth).length, y: 0 });
    }
    // Lanes shrink as they multiply, so ten thousand concurrent calls still fit one canvas.
    TL.laneH = laneCount <= 480 ? Math.min(12, Math.max(1, Math.floor(480 / laneCount))) : 600 / laneCount;
    let y = AXIS_H + (TL.bands.length ? BAND_H + 4 : 0);
    for (const g of TL.groups) {
      g.y = y + GROUP_H;
      y = g.y + g.lanes.length * TL.laneH + 4;
    }
    TL.height = Math.ceil(y);
    timelineEl.dataset.bars = String(TL.items.length);
    timelineEl.dataset.lanes = String(laneCount);
    timelineEl.dataset.sequential = String(TL.sequential);
    const note = $('tl-note');
    if (!TL.items.length) note.textContent = 'no sub-calls';
    else {
      note.textContent = fmtInt(TL.items.length) + ' sub-calls over ' + fmtSecs(TL.total) +
        (TL.sequential ? ' \u00b7 the log has no start times for ' + fmtInt(TL.sequential) + ' of them: shown one after another' : '');
    }
  }

  /** A tick label with as many decimals as the step between ticks needs. */
  function fmtAxis(t, step) {
    if (step < 1) return t === 0 ? '0' : Math.round(t * 1000) + ' ms';
    return t + ' s';
  }

  function niceStep(total, target) {
    const raw = total / target;
    const pow = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (raw <= m * pow) return m * pow;
    return 10 * pow;
  }

  function colors() {
    const css = getComputedStyle(document.documentElement);
    const v = (name) => css.getPropertyValue(name).trim();
    return { llm: v('--llm'), rlm: v('--rlm'), tool: v('--tool'), bad: v('--bad'), line: v('--line'), muted: v('--muted'), fg: v('--fg') };
  }

  const xOf = (t, width) => PAD_L + (t / TL.total) * (width - PAD_L - PAD_R);

  function drawTimeline() {
    if (timelineEl.hidden) return;
    const width = Math.max(200, tlScroll.clientWidth);
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(TL.height * dpr);
    canvas.style.width = width + 'px';
    canvas.style.height = TL.height + 'px';
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, TL.height);
    const col = colors();
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'top';

    const step = niceStep(TL.total, Math.max(2, Math.floor(width / 110)));
    ctx.fillStyle = col.muted;
    ctx.strokeStyle = col.line;
    ctx.lineWidth = 1;
    for (let i = 0; i * step <= TL.total + 1e-9; i++) {
      const t = i * step;
      const x = Math.round(xOf(t, width)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, AXIS_H - 4);
      ctx.lineTo(x, TL.height);
      ctx.stroke();
      const tick = fmtAxis(t, step);
      // The last label goes left of its line rather than off the canvas.
      const w = ctx.measureText(tick).width;
      ctx.fillText(tick, x + 2 + w > width ? x - 2 - w : x + 2, 2);
    }

    let bandY = AXIS_H;
    TL.bands.forEach((b, i) => {
      const x = xOf(b.s, width);
      const w = Math.max(1, xOf(b.s + b.d, width) - x);
      ctx.globalAlpha = b.n === selected ? 0.9 : i % 2 ? 0.35 : 0.6;
      ctx.fillStyle = col.line;
      ctx.fillRect(x, bandY, w, BAND_H);
      ctx.globalAlpha = 1;
      if (w > 16) { ctx.fillStyle = col.fg; ctx.fillText(String(b.n.n), x + 3, bandY + 1); }
    });

    const laneH = TL.laneH;
    const gap = laneH >= 6 ? 2 : 0;
    let selectedItem = null;
    for (const g of TL.groups) {
      ctx.fillStyle = col.muted;
      ctx.fillText('depth ' + g.depth + ' \u00b7 ' + count(g.count, 'call'), PAD_L, g.y - GROUP_H + 1);
      g.lanes.forEach((lane, li) => {
        const y = g.y + li * laneH;
        for (const item of lane) {
          const n = item.n;
          const x = xOf(item.s, width);
          const w = Math.max(1, xOf(item.s + item.d, width) - x);
          ctx.globalAlpha = filterOn && !n.match ? 0.15 : 1;
          ctx.fillStyle = n.bad ? col.bad : col[n.kind];
          ctx.fillRect(x, y, w, Math.max(1, laneH - gap));
          if (n === selected) selectedItem = { x, y, w };
        }
      });
    }
    ctx.globalAlpha = 1;
    if (selectedItem) {
      ctx.strokeStyle = col.fg;
      ctx.lineWidth = 2;
      ctx.strokeRect(selectedItem.x - 1, selectedItem.y - 1, selectedItem.w + 2, Math.max(2, laneH - gap) + 2);
    }
  }

  /** The call under a point of the canvas, or null. */
  function itemAt(px, py) {
    const width = tlScroll.clientWidth;
    const g = TL.groups.find((gr) => py >= gr.y && py < gr.y + gr.lanes.length * TL.laneH);
    if (!g) return null;
    const lane = g.lanes[Math.floor((py - g.y) / TL.laneH)];
    if (!lane) return null;
    const t = ((px - PAD_L) / (width - PAD_L - PAD_R)) * TL.total;
    const slack = (3 / (width - PAD_L - PAD_R)) * TL.total;
    // Lanes hold non-overlapping calls sorted by start: binary search.
    let lo = 0;
    let hi = lane.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (lane[mid].s <= t + slack) { best = mid; lo = mid + 1; } else hi = mid - 1;
    }
    for (let i = best; i >= 0 && i >= best - 1; i--) {
      const item = lane[i];
      if (item && t - slack <= item.s + item.d) return item;
    }
    return null;
  }

  canvas.addEventListener('mousemove', (e) => {
    const rect = canvas.getBoundingClientRect();
    const item = itemAt(e.clientX - rect.left, e.clientY - rect.top);
    if (!item) { tip.hidden = true; return; }
    const n = item.n;
    tip.textContent = [
      n.kind + ' #' + n.no + (n.model ? ' \u00b7 ' + n.model : '') + ' \u00b7 depth ' + n.depth + (n.bad ? ' \u00b7 FAILED' : ''),
      'start ' + fmtSecs(item.s) + ' \u00b7 took ' + fmtSecs(item.d) + (fmtTokens(n.usage) ? ' \u00b7 ' + fmtTokens(n.usage) : ''),
      oneLine(str(n.c.prompt), 200),
    ].join('\n');
    const box = timelineEl.getBoundingClientRect();
    tip.style.left = Math.min(e.clientX - box.left + 12, box.width - 300) + 'px';
    tip.style.top = e.clientY - box.top + 14 + 'px';
    tip.hidden = false;
  });
  canvas.addEventListener('mouseleave', () => { tip.hidden = true; });
  canvas.addEventListener('click', (e) => {
    const rect = canvas.getBoundingClientRect();
    const item = itemAt(e.clientX - rect.left, e.clientY - rect.top);
    if (item) select(item.n);
  });
  $('toggle-timeline').addEventListener('click', (e) => {
    timelineEl.hidden = !timelineEl.hidden;
    e.target.setAttribute('aria-pressed', String(!timelineEl.hidden));
    drawTimeline();
    drawRows();
  });
  let resizeQueued = false;
  window.addEventListener('resize', () => {
    if (resizeQueued) return;
    resizeQueued = true;
    requestAnimationFrame(() => { resizeQueued = false; drawTimeline(); drawRows(); });
  });

  // ---- Start ------------------------------------------------------------------------------

  renderHeader();
  buildTimeline();
  if (!TL.items.length) {
    timelineEl.hidden = true;
    $('toggle-timeline').setAttribute('aria-pressed', 'false');
  }
  flatten();
  renderDetail();
  drawTimeline();
  document.body.dataset.ready = 'true';
})();
