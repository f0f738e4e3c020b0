// Bundles the official rlms visualizer's own source (unchanged) with the two entry points in entry/.
//
// The upstream `src/` is copied afresh into .build/src on every build, so that its bare imports
// ('react', '@radix-ui/...') resolve to this directory's node_modules (pinned by package-lock.json);
// its `@/` alias is resolved to that copy, as its tsconfig.json does. Nothing upstream is edited.
//
//   OUT/ssr.cjs     entry/ssr.tsx    platform node, for react-dom/server (loaded with require)
//   OUT/client.js   entry/client.tsx platform browser, an IIFE evaluated inside a jsdom window
//   OUT/source.json where the visualizer was read from, and a sha256 of its src/
//
// OUT is $VISUALIZER_BUILD, else .build/dev; it must be a folder under .build/ here (so that the
// copy's imports find node_modules here). run.sh gives each run its own, so runs can go in parallel.
// The visualizer is found at $RLMS_VISUALIZER_DIR, else at ../shared/rlms-visualizer beside the repo.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const upstream = path.resolve(
  process.env.RLMS_VISUALIZER_DIR || path.join(here, '..', '..', '..', 'shared', 'rlms-visualizer'),
);
const out = path.resolve(here, process.env.VISUALIZER_BUILD || path.join('.build', 'dev'));
{
  // It is removed and rewritten: accept only a folder under .build/ here.
  const rel = path.relative(path.join(here, '.build'), out);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) die(`VISUALIZER_BUILD=${out} is not a folder under ${path.join(here, '.build')}`);
}
const srcCopy = path.join(out, 'src');

function die(msg) {
  console.error(`visualizer harness: ${msg}`);
  process.exit(2);
}

for (const f of ['src/lib/parse-logs.ts', 'src/lib/types.ts', 'src/components/LogViewer.tsx', 'src/components/Dashboard.tsx']) {
  if (!fs.existsSync(path.join(upstream, f))) {
    die(`the rlms visualizer was not found: ${path.join(upstream, f)} is missing (set RLMS_VISUALIZER_DIR)`);
  }
}

function* walk(dir, dirsToo = false) {
  if (dirsToo) yield dir;
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p, dirsToo);
    else yield p;
  }
}
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
fs.cpSync(path.join(upstream, 'src'), srcCopy, { recursive: true });
// The upstream tree may be read-only; keep the copy removable.
for (const p of walk(srcCopy, true)) fs.chmodSync(p, fs.statSync(p).isDirectory() ? 0o755 : 0o644);

// A fingerprint of the upstream source that was bundled, printed by the harness.
const hash = createHash('sha256');
for (const p of walk(srcCopy)) {
  hash.update(path.relative(srcCopy, p));
  hash.update('\0');
  hash.update(fs.readFileSync(p));
}
let origin = '';
try {
  origin = (fs.readFileSync(path.join(upstream, 'ORIGIN.md'), 'utf8').match(/commit ([0-9a-f]{7,40})/) || [])[1] || '';
} catch {}
fs.writeFileSync(
  path.join(out, 'source.json'),
  JSON.stringify({ upstream, origin_commit: origin, src_sha256: hash.digest('hex') }) + '\n',
);

// `@/x` -> <copy of upstream>/src/x; `next/*` is refused with a clear message (not installed on purpose).
const upstreamImports = {
  name: 'upstream-imports',
  setup(b) {
    b.onResolve({ filter: /^@\// }, async (args) => {
      const r = await b.resolve('./' + args.path.slice(2), { resolveDir: srcCopy, kind: args.kind });
      return r.errors.length ? { errors: r.errors } : { path: r.path };
    });
    b.onResolve({ filter: /^next(\/|$)/ }, (args) => ({
      errors: [{ text: `${args.importer} imports '${args.path}': the harness does not install next; stub it in build.mjs` }],
    }));
  },
};

const common = {
  bundle: true,
  jsx: 'automatic',
  loader: { '.css': 'empty' },
  define: { 'process.env.NODE_ENV': '"development"' }, // React's development build: full error messages
  plugins: [upstreamImports],
  logLevel: 'warning',
  logOverride: { 'module-level-directive': 'silent' }, // 'use client' is meaningless in a bundle
  sourcemap: 'inline',
  absWorkingDir: here,
};

try {
  await Promise.all([
    build({ ...common, entryPoints: [path.join(here, 'entry/ssr.tsx')], outfile: path.join(out, 'ssr.cjs'), platform: 'node', format: 'cjs', target: 'node20' }),
    build({ ...common, entryPoints: [path.join(here, 'entry/client.tsx')], outfile: path.join(out, 'client.js'), platform: 'browser', format: 'iife', globalName: '__rlmsHarness', target: 'es2022' }),
  ]);
} catch (e) {
  die(`bundling the visualizer failed: ${e.message}`);
}
