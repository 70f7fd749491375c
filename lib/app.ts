import { App, Validations } from 'aws-cdk-lib';
import type { PgdrConfig } from './config';
import { nagPacks } from './nag';
import { PgdrStack } from './pgdr-stack';

/** The CDK context key naming the configuration file (`-c pgdrConfig=PATH`). */
export const CONFIG_CONTEXT_KEY = 'pgdrConfig';

/** Adds the pgdr stack for a validated configuration to `app`, with the cdk-nag packs of {@link nagPacks} attached
 * (AwsSolutions, NIST 800-53 R5, HIPAA Security, PCI DSS 3.2.1: all check the one synthesis; acknowledgements and
 * their reasons are written into the template's Metadata as an audit trail). */
export function addPgdr(app: App, config: PgdrConfig): PgdrStack {
  const stack = new PgdrStack(app, config.stackName, {
    config,
    description: `pgdr: disaster recovery for ${config.databases.map((d) => d.name).join(', ')}`,
  });
  Validations.of(app).addPlugins(...nagPacks(app));
  return stack;
}
