#!/usr/bin/env node
/**
 * The `pgdr` command, in this one process (so Ctrl-C and SIGTERM reach the command itself, which
 * stops cleanly; see cli/interrupt.ts). It runs the bundle build/cli/pgdr.js (scripts/build-cli.ts)
 * when the bundle is not older than any of its project inputs (build/cli/inputs.json) nor than the
 * installed packages (node_modules/.package-lock.json); otherwise it builds the bundle first (esbuild,
 * no second node process). If the bundle cannot be built it runs cli/main.ts through tsx and says
 * so in one line on stderr. PGDR_NO_BUNDLE=1 runs the sources through tsx without a word.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS shim */
'use strict';
const { readFileSync, statSync } = require('node:fs');
const { join } = require('node:path');

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED || 'true';

const ROOT = join(__dirname, '..');
const BUNDLE = join(ROOT, 'build', 'cli', 'pgdr.js');
const INPUTS = join(ROOT, 'build', 'cli', 'inputs.json');

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
    for (const file of [...inputs, 'node_modules/.package-lock.json']) {
      const mtime = statSync(join(ROOT, file), { throwIfNoEntry: false })?.mtimeMs;
      if (mtime === undefined && file !== 'node_modules/.package-lock.json') return `${file} is gone`;
      if (mtime > built) return `${file} is newer than the bundle`;
    }
  } catch (err) {
    return `unreadable ${INPUTS}: ${err.message}`;
  }
  return undefined;
}

/** The CLI's main module: the bundle (built first when stale), else the sources through tsx. */
async function cliMain() {
  if (process.env.PGDR_NO_BUNDLE === '1') return fromSources();
  if (staleness() === undefined) return require(BUNDLE);
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
    return require(BUNDLE);
  } catch (err) {
    process.stderr.write(`pgdr: cannot build the CLI bundle (${String(err && err.message).split('\n')[0]}); running the sources through tsx\n`);
    return fromSources();
  }
}

function fromSources() {
  require('tsx/cjs/api').register();
  return require('../cli/main.ts');
}

cliMain()
  .then((main) => main.run(process.argv))
  .then((code) => {
    process.exitCode = code;
  });
