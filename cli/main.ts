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
import { CliError } from './errors';
import { redactOutput } from './shared';
import { registerBackup } from './commands/backup';
import { registerVerify } from './commands/verify';
import { registerDrill } from './commands/drill';

export { redactOutput };

/** pgdr's version, from its package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
}

export function buildProgram(): Command {
  const program = new Command('pgdr')
    .description('Disaster recovery for PostgreSQL: verified dumps, RPO/RTO alarms, failover')
    .version(packageVersion(), '-V, --version', 'print the pgdr version')
    .showHelpAfterError(false)
    .exitOverride()
    // commander's own errors echo arguments (`unknown command 'postgres://u:pw@h/db'`): redacted too.
    .configureOutput({ writeErr: (text) => process.stderr.write(redactOutput(text)) });

  registerBackup(program);
  registerVerify(program);
  registerDrill(program);

  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function run(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode; // commander already printed it
    const message = (err as Error)?.message ?? String(err);
    // Never a password, on any line (a configuration error lists one problem per line).
    process.stderr.write(`pgdr: ${redactOutput(message)}\n`);
    return err instanceof CliError ? err.exitCode : 1;
  }
}
