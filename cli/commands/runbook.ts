/** `pgdr runbook`: the Markdown runbook generated from the configuration, its synthesized stack and (when deployed) the stack's outputs. */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { ConfigError } from '../../lib/config';
import { EXIT } from '../contract';
import { CliError } from '../errors';
import { loadOptionalConfig } from '../resolve';
import { redactOutput } from '../shared';

export interface RunbookDeps {
  /** The deployed stack's outputs (OutputKey → OutputValue); throws one clear line when they cannot be read. */
  readonly loadOutputs?: (stackName: string) => Promise<Record<string, string>>;
  /** The clock of the "generated at" line. @default the system clock */
  readonly now?: () => Date;
}

interface RunbookOptions {
  out?: string;
  config?: string;
  local?: boolean;
}

/** Placeholders for the account and region of the definition's ARNs (the runbook draws it; it does not run it). */
const DRAWING_TOKENS = { account: '<account>', region: '<region>' };

/** The runbook's text for the options: configuration → synthesis → definition (+ outputs unless --local). */
export async function runbookText(options: RunbookOptions, deps: RunbookDeps = {}): Promise<string> {
  const { config, path } = loadConfigFor(options.config);
  if (!config) throw new CliError(`there is no ${path}: the runbook is generated from a configuration; give --config PATH or create ${path}`, EXIT.usage);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when needed, kept lazy in the bundle (scripts/build-cli.ts)
  const { failoverDefinition, synthesize } = require('../../lib/synthesize') as typeof import('../../lib/synthesize');
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when needed, kept lazy in the bundle (scripts/build-cli.ts)
  const { renderRunbook } = require('../runbook/render') as typeof import('../runbook/render');
  const { template } = synthesize(config);
  const definition = failoverDefinition(template, DRAWING_TOKENS);
  let outputs: Record<string, string> | undefined;
  let outputsNote: string | undefined;
  if (options.local) {
    outputsNote = 'generated with --local, the deployed stack was not asked';
  } else if (!deps.loadOutputs) {
    outputsNote = 'this pgdr has no reader of CloudFormation outputs wired in';
  } else {
    try {
      outputs = await deps.loadOutputs(config.stackName);
    } catch (err) {
      outputsNote = `the outputs of stack ${config.stackName} could not be read: ${firstLine(err)}`;
    }
  }
  return redactOutput(renderRunbook({ config, configPath: path, template, definition, outputs, outputsNote, generatedAt: (deps.now ?? (() => new Date()))() }));
}

function loadConfigFor(path?: string): ReturnType<typeof loadOptionalConfig> {
  try {
    return loadOptionalConfig(path);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, EXIT.usage);
    throw err;
  }
}

const firstLine = (err: unknown) => ((err as Error)?.message ?? String(err)).split('\n')[0];

export function registerRunbook(program: Command, deps: RunbookDeps = {}): void {
  program
    .command('runbook')
    .summary('write the Markdown runbook of this deployment (objectives, alarms, failover commands, diagram)')
    .description('write the Markdown runbook of this deployment: per database the RPO/RTO, backup schedules, retention and where backups live; every alarm the stack creates with what it means and what to do; the commands and console path to start a failover or drill from each source; a Mermaid diagram of the failover workflow; validation checklist, approval, rollback, cleanup and a post-incident template')
    .option('--out <file>', 'write the runbook to FILE instead of stdout')
    .option('--config <path>', 'configuration file (default: pgdr.config.json)')
    .option('--local', 'do not ask AWS for the deployed stack\'s outputs: commands carry placeholders')
    .addHelpText(
      'after',
      '\nThe runbook is generated from the configuration and the stack it synthesizes (offline), and uses the deployed\n' +
        "stack's CloudFormation outputs (state machine ARN, bucket, topic) when they can be read; otherwise its commands\n" +
        'carry placeholders and its header says why.\n\nExit codes: 0 written, 2 no or invalid configuration, 1 any other failure.',
    )
    .action(async (options: RunbookOptions) => {
      const text = await runbookText(options, deps);
      if (options.out) {
        const file = resolve(options.out);
        writeFileSync(file, text);
        process.stdout.write(redactOutput(`wrote the runbook to ${file}\n`));
      } else {
        process.stdout.write(text);
      }
    });
}
