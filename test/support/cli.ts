/**
 * Runs the real `pgdr` command (`node bin/pgdr.js ...`) as a user does, with PGDR_LOCAL_DIR set
 * so the test's local S3 data stays in its own temp directory.
 */
import { execFile, spawn, ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '../..');
export const PGDR_JS = join(ROOT, 'bin/pgdr.js');

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Environment without the caller's PG* variables (the tests choose them), plus `env`. */
export function cliEnv(localDir: string, env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PG') || k.startsWith('PGDR_')));
  return { ...base, PGDR_LOCAL_DIR: localDir, ...env };
}

/** Runs `pgdr args...` to completion. */
export function runPgdr(localDir: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return new Promise((done) => {
    execFile(process.execPath, [PGDR_JS, ...args], { cwd: ROOT, env: cliEnv(localDir, env), timeout: 110_000 }, (error, stdout, stderr) =>
      done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Starts `pgdr args...` without waiting (the caller signals it and awaits `exited`); `detached` gives it its own process group. */
export function startPgdr(
  localDir: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  options: { detached?: boolean } = {},
): { child: ChildProcess; exited: Promise<CliRun> } {
  const child = spawn(process.execPath, [PGDR_JS, ...args], { cwd: ROOT, env: cliEnv(localDir, env), stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<CliRun>((done) => child.on('close', (code, signal) => done({ code: code ?? (signal ? 128 : 1), stdout, stderr })));
  return { child, exited };
}
