#!/usr/bin/env node
/** CDK app entry (run by `cdk` through tsx, see cdk.json). */
import { App } from 'aws-cdk-lib';
import { addPgdr, CONFIG_CONTEXT_KEY } from '../lib/app';
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig } from '../lib/config';

const app = new App();
const configPath: string = app.node.tryGetContext(CONFIG_CONTEXT_KEY) ?? DEFAULT_CONFIG_PATH;
try {
  addPgdr(app, loadConfig(configPath));
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`pgdr: invalid configuration: ${err.message}\n`);
  process.exit(1);
}
app.synth();
