#!/usr/bin/env node
/**
 * The `pgdr` command: runs cli/main.ts through tsx, in this one process (so Ctrl-C and SIGTERM
 * reach the command itself, which stops cleanly; see cli/interrupt.ts).
 */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS shim */
'use strict';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED || 'true';
require('tsx/cjs/api').register();
require('../cli/main.ts')
  .run(process.argv)
  .then((code) => {
    process.exitCode = code;
  });
