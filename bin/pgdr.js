#!/usr/bin/env node
/**
 * The `pgdr` command: runs cli/main.ts through tsx. s3rver's ListObjectsV2 paging uses DES,
 * which Node's OpenSSL 3 only offers with --openssl-legacy-provider, so we re-run ourselves with
 * it once (the local runner lists bucket prefixes that can exceed one page).
 */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS shim */
/* global __filename */
'use strict';
const LEGACY = '--openssl-legacy-provider';
if (!process.execArgv.includes(LEGACY) && !(process.env.NODE_OPTIONS || '').includes(LEGACY)) {
  const { spawnSync } = require('node:child_process');
  const result = spawnSync(process.execPath, [LEGACY, ...process.execArgv, __filename, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(result.status === null ? 1 : result.status);
}
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED || 'true';
require('tsx/cjs/api').register();
require('../cli/main.ts')
  .run(process.argv)
  .then((code) => {
    process.exitCode = code;
  });
