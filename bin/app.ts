#!/usr/bin/env node
/** CDK app entry (run by `cdk` through tsx, see cdk.json). */
import { App } from 'aws-cdk-lib';
import { addPgdr, CONFIG_CONTEXT_KEY } from '../lib/app';
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig } from '../lib/config';
import { misspelledContextKeys, misspelledContextMessage } from './context-keys';

const app = new App();
const misspelled = misspelledContextKeys(app.node.getAllContext() as Record<string, unknown>, CONFIG_CONTEXT_KEY);
if (misspelled.length > 0) {
  process.stderr.write(`pgdr: ${misspelledContextMessage(misspelled, CONFIG_CONTEXT_KEY)}\n`);
  process.exit(1);
}
const configPath: string = app.node.tryGetContext(CONFIG_CONTEXT_KEY) ?? DEFAULT_CONFIG_PATH;
try {
  addPgdr(app, loadConfig(configPath));
} catch (err) {
  // One clear line, not a stack trace (PGDR_DEBUG=1 shows the trace of a construct error).
  if (err instanceof ConfigError) {
    process.stderr.write(`pgdr: invalid configuration: ${err.message}\n`);
  } else if (err instanceof Error && !process.env.PGDR_DEBUG) {
    process.stderr.write(`pgdr: cannot build the stack from ${configPath}: ${err.message}\n`);
  } else {
    throw err;
  }
  process.exit(1);
}
app.synth();
