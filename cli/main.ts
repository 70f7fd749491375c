/**
 * `pgdr` for humans. This file: `backup` and `verify`, which run the dump and verify cores of the
 * Lambda handlers on this machine (`--local`) against a PostgreSQL given by URL and an
 * in-process s3rver (see cli/local.ts).
 *
 *   pgdr backup NAME --local --source-url postgres://user:pw@host:port/db [--class C] [--json]
 *   pgdr verify NAME --local [--verify-url URL] [--source-url URL] [--json]
 *
 * Errors are one line on stderr and exit code 1; a failed verification prints its record and
 * exits 1. No output shows a password (redactOutput on every line). Ctrl-C/SIGTERM during a
 * backup stops it cleanly (cli/interrupt.ts) and exits 130/143. `pgdr --version` prints the version.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../lib/config/load';
import { CliError } from './errors';
import { EXIT } from './contract';
import { redactOutput } from './shared';
import { PROJECT_ROOT } from './project';
import { registerBackup } from './commands/backup';
import { registerVerify } from './commands/verify';
import { registerDrill } from './commands/drill';
import { registerFailover } from './commands/failover';
import { registerRunbook } from './commands/runbook';
import { registerStatus } from './commands/status';

export { redactOutput };

/** The exit codes, as `--help` shows them (the README's table says the same). */
export const EXIT_CODES_HELP = `
Exit codes:
  ${EXIT.ok}    done (a drill: every step passed and the measured RPO/RTO met the targets)
  ${EXIT.failed}    a step failed: backup, verification, failover, drill, or an objective missed
  ${EXIT.usage}    bad input: unknown option or database, malformed URL, invalid configuration
  ${EXIT.environment}    AWS not usable: no credentials, stack not deployed, no permission
  ${EXIT.sigint}  interrupted by Ctrl-C (SIGINT); ${EXIT.sigterm} by SIGTERM; the command cleaned up first

Passwords never go on the command line: give URLs without one and use PGPASSWORD, ~/.pgpass
(PGPASSFILE) or a service file (PGSERVICE, --source-url service=NAME).
`;

/** pgdr's version, from its package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

export function buildProgram(): Command {
  const program = new Command('pgdr')
    .description('Disaster recovery for PostgreSQL: verified dumps, RPO/RTO alarms, failover')
    .version(packageVersion(), '-V, --version', 'print the pgdr version')
    .showHelpAfterError(false)
    .exitOverride()
    // commander's own errors echo arguments (`unknown command 'postgres://u:pw@h/db'`): redacted too.
    .configureOutput({ writeErr: (text) => process.stderr.write(redactOutput(text)) });

  registerStatus(program);
  registerBackup(program);
  registerVerify(program);
  registerFailover(program);
  registerDrill(program);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when needed, kept lazy in the bundle (scripts/build-cli.ts)
  registerRunbook(program, { loadOutputs: (stackName) => (require('./aws/backend') as typeof import('./aws/backend')).loadStackOutputs(stackName) });

  // Every command's --help ends with the exit codes (commander copies the settings to subcommands).
  for (const command of [program, ...program.commands]) {
    command.exitOverride().configureOutput({ writeErr: (text) => process.stderr.write(redactOutput(text)) }).addHelpText('after', EXIT_CODES_HELP);
  }
  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function run(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    // commander already printed it; --help and --version end with 0, its usage errors with EXIT.usage.
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    const message = (err as Error)?.message ?? String(err);
    // Never a password, on any line (a configuration error lists one problem per line).
    process.stderr.write(`pgdr: ${redactOutput(message)}\n`);
    return err instanceof CliError ? err.exitCode : err instanceof ConfigError ? EXIT.usage : EXIT.failed;
  }
}
