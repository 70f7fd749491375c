#!/usr/bin/env node
/**
 * The `pgdr` command, in this one process (so Ctrl-C and SIGTERM reach the command itself, which
 * stops cleanly; see cli/interrupt.ts). It runs the bundle build/cli/pgdr.js (scripts/build-cli.ts)
 * when the bundle is not older than any of its project inputs (build/cli/inputs.json), its build
 * script (scripts/build-cli.ts) or the installed packages (node_modules/.package-lock.json);
 * otherwise it builds the bundle first (esbuild, no second node process). If the bundle cannot be
 * built it runs cli/main.ts through tsx and says so in one line on stderr. PGDR_NO_BUNDLE=1 runs the sources through tsx without a word.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS shim */
'use strict';
const { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const { dirname, join } = require('node:path');
const vm = require('node:vm');

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED || 'true';
// `pgdr ... | head`: a reader that goes away ends the output quietly, not with an EPIPE stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err && err.code === 'EPIPE') process.exit(process.exitCode || 0);
    throw err;
  });
}

const ROOT = join(__dirname, '..');
const BUNDLE = join(ROOT, 'build', 'cli', 'pgdr.js');
const INPUTS = join(ROOT, 'build', 'cli', 'inputs.json');
const CODE_CACHE = join(ROOT, 'build', 'cli', 'code-cache');

/** Why the bundle cannot run as it is (missing, or older than a file it was built from), or undefined when it can. */
function staleness() {
  let built;
  try {
    built = statSync(BUNDLE).mtimeMs;
  } catch {
    return 'no bundle';
  }
  try {
    const { inputs } = JSON.parse(readFileSync(INPUTS, 'utf8'));
    // The build script too: a bundle it would now build differently (e.g. wrapped otherwise) is stale.
    for (const file of [...inputs, 'scripts/build-cli.ts', 'node_modules/.package-lock.json']) {
      const mtime = statSync(join(ROOT, file), { throwIfNoEntry: false })?.mtimeMs;
      if (mtime === undefined && file !== 'node_modules/.package-lock.json') return `${file} is gone`;
      if (mtime > built) return `${file} is newer than the bundle`;
    }
  } catch (err) {
    return `unreadable ${INPUTS}: ${err.message}`;
  }
  return undefined;
}

/**
 * Loads the bundle with V8's code cache: compiling its 5 MiB costs ~0.25 s a start, reading the
 * code compiled by an earlier run of the same command ~0.05 s. One cache per command (its first
 * word: a backup compiles other functions than --help), named after the bundle's mtime and size
 * (V8 checks only the source's length); written at the end of a run that had none or whose cache
 * V8 rejected (another node version). Returns the module's exports and `saveCache()`.
 */
function loadBundle() {
  // V8 accepts a code cache only under the V8 flags it was written with. The dump's uploader turns
  // on --expose-gc during a run (lambda/shared/s3-store.ts, collectReadChunks), so a cache written
  // at the end of a backup carried that flag and the next run (without it) rejected the cache and
  // compiled everything again (~0.2 s). Set it before compiling: every run then has the same flags.
  // The same holds for the heap growth that uploading or reading a dump sets
  // (lambda/shared/heap-growth.ts, HEAP_GROWTH_FLAG: the same string here).
  require('node:v8').setFlagsFromString('--expose-gc');
  require('node:v8').setFlagsFromString('--heap-growing-percent=200');
  // esbuild writes ASCII (its default charset escapes every other character): read as Latin-1,
  // the bundle's 5 MiB become a one-byte string ~20 ms sooner than through a UTF-8 decoder. Any
  // other byte (a bundle built otherwise) is decoded as UTF-8.
  const raw = readFileSync(BUNDLE);
  const source = raw.toString(require('node:buffer').isAscii(raw) ? 'latin1' : 'utf8');
  const { mtimeMs, size } = statSync(BUNDLE);
  const command = /^[a-z]{1,20}$/.test(process.argv[2] ?? '') ? process.argv[2] : 'other';
  const cacheFile = join(CODE_CACHE, `${command}-${Math.round(mtimeMs * 1000)}-${size}.bin`);
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  // The file is already the module function's text (scripts/build-cli.ts BUNDLE_WRAPPER): no
  // Module.wrap, which made V8 copy the 5 MiB once more into a flat string at every start.
  const script = new vm.Script(source, { filename: BUNDLE, cachedData });
  const bundleModule = { exports: {}, filename: BUNDLE, id: BUNDLE, loaded: false };
  script.runInThisContext()(bundleModule.exports, Module.createRequire(BUNDLE), bundleModule, BUNDLE, dirname(BUNDLE));
  bundleModule.loaded = true;
  const saveCache = () => {
    if (cachedData !== undefined && !script.cachedDataRejected) return;
    try {
      mkdirSync(CODE_CACHE, { recursive: true });
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cacheFile);
    } catch {
      // A read-only installation runs without the cache.
    }
  };
  return { main: bundleModule.exports, saveCache };
}

/** The CLI's main module (and a function run at its end): the bundle (built first when stale), else the sources through tsx. */
async function cliMain() {
  if (process.env.PGDR_NO_BUNDLE === '1') return fromSources();
  if (staleness() === undefined) return loadBundle();
  try {
    // The build script is TypeScript: tsx's hook only while it loads (esbuild breaks in a tsx namespace).
    const unregister = require('tsx/cjs/api').register();
    let build;
    try {
      build = require('../scripts/build-cli.ts').buildCli;
    } finally {
      unregister();
    }
    await build();
    return loadBundle();
  } catch (err) {
    process.stderr.write(`pgdr: cannot build the CLI bundle (${String(err && err.message).split('\n')[0]}); running the sources through tsx\n`);
    return fromSources();
  }
}

function fromSources() {
  require('tsx/cjs/api').register();
  return { main: require('../cli/main.ts'), saveCache: () => undefined };
}

cliMain().then(async ({ main, saveCache }) => {
  const code = await main.run(process.argv);
  saveCache();
  process.exitCode = code;
});
