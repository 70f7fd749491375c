/**
 * Runs the PostgreSQL client tools (pg_dump, pg_restore, psql) and helpers (zstd) as child
 * processes. Connection settings and the password reach the child through its environment
 * (PGHOST, ..., PGPASSWORD), never through argv, so neither `ps` nor a logged command line
 * shows them. stderr is kept (last 16 KiB) for error messages.
 */
import { spawn, ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { ConnectionInfo, libpqEnv } from './connection';

const STDERR_KEEP = 16 * 1024;

export interface ToolExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The tail of stderr. */
  readonly stderr: string;
}

/** A tool failed: its name, how it ended and what it said. */
export class ToolError extends Error {
  constructor(
    readonly tool: string,
    readonly exit: ToolExit | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'ToolError';
  }
}

export interface RunningTool {
  readonly tool: string;
  readonly child: ChildProcess;
  readonly stdin: Writable | null;
  readonly stdout: Readable;
  /** Resolves when the process has exited (never rejects; a spawn error becomes code null). */
  readonly exited: Promise<ToolExit>;
}

export interface StartOptions {
  /** Connection for libpq tools; sets PGHOST..PGPASSWORD in the child's environment. */
  readonly connection?: ConnectionInfo;
  /** Give the child a writable stdin. @default false (stdin ignored) */
  readonly stdin?: boolean;
}

/** Full path of a tool in `binDir`, or a clear error. */
export function toolPath(binDir: string, tool: string): string {
  const path = join(binDir, tool);
  if (!existsSync(path)) throw new ToolError(tool, undefined, `${tool} not found in ${binDir} (set PGDR_PG_BIN to the directory holding the PostgreSQL client tools)`);
  return path;
}

/** The child's environment: ours without any PG* variable, plus the connection's libpq variables. */
function childEnv(binDir: string, connection?: ConnectionInfo): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  // A packed tools directory (<dir>/bin + <dir>/lib, as in the Lambda layer) brings its libraries.
  const libDir = binDir ? join(dirname(binDir), 'lib') : '';
  if (libDir && existsSync(libDir)) env.LD_LIBRARY_PATH = [libDir, env.LD_LIBRARY_PATH].filter(Boolean).join(delimiter);
  return connection ? { ...env, ...libpqEnv(connection) } : env;
}

/** Starts `binDir/tool args`. stdout is a pipe; stderr is collected. */
export function startTool(binDir: string, tool: string, args: string[], options: StartOptions = {}): RunningTool {
  const path = tool.includes('/') ? tool : toolPath(binDir, tool);
  const child = spawn(path, args, {
    env: childEnv(binDir, options.connection),
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_KEEP);
  });
  // EPIPE on stdin when the child exits early is reported through its exit status instead.
  child.stdin?.on('error', () => undefined);
  const exited = new Promise<ToolExit>((resolve) => {
    let spawnError: Error | undefined;
    child.on('error', (err) => {
      spawnError = err;
      resolve({ code: null, signal: null, stderr: `cannot start ${tool}: ${err.message}` });
    });
    child.on('close', (code, signal) => {
      if (!spawnError) resolve({ code, signal, stderr });
    });
  });
  return { tool, child, stdin: child.stdin, stdout: child.stdout!, exited };
}

/** The last meaningful line(s) of stderr, for an error message. */
export function stderrSummary(stderr: string, lines = 3): string {
  return stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-lines)
    .join(' | ');
}

/** Describes how a tool ended, e.g. "pg_dump was killed by SIGKILL: <stderr>". */
export function describeExit(tool: string, exit: ToolExit): string {
  const how = exit.signal ? `was killed by ${exit.signal}` : exit.code === null ? 'could not start' : `exited with code ${exit.code}`;
  const said = stderrSummary(exit.stderr);
  return said ? `${tool} ${how}: ${said}` : `${tool} ${how}`;
}

/** Rejects with a ToolError unless the tool exited with code 0. */
export async function expectSuccess(running: RunningTool): Promise<ToolExit> {
  const exit = await running.exited;
  if (exit.code !== 0) throw new ToolError(running.tool, exit, describeExit(running.tool, exit));
  return exit;
}

/** Runs a tool to completion and returns its stdout (for small outputs such as --version). */
export async function runTool(binDir: string, tool: string, args: string[], options: StartOptions = {}): Promise<string> {
  const running = startTool(binDir, tool, args, options);
  let out = '';
  running.stdout.setEncoding('utf8');
  running.stdout.on('data', (chunk: string) => (out += chunk));
  await expectSuccess(running);
  return out;
}

export interface ToolVersion {
  /** e.g. "15.18 (Debian 15.18-0+deb12u1)" */
  readonly version: string;
  readonly major: number;
}

/** Parses `pg_dump (PostgreSQL) 15.18 (Debian ...)`. */
export function parseToolVersion(tool: string, output: string): ToolVersion {
  const m = /\(PostgreSQL\)\s+((\d+)(?:\.\d+)?\S*(?:\s.*)?)$/m.exec(output.trim());
  if (!m) throw new ToolError(tool, undefined, `cannot read the version of ${tool} from ${JSON.stringify(output.trim().slice(0, 100))}`);
  return { version: m[1].trim(), major: Number(m[2]) };
}

/** `tool --version`, parsed. */
export async function toolVersion(binDir: string, tool: string): Promise<ToolVersion> {
  return parseToolVersion(tool, await runTool(binDir, tool, ['--version']));
}

/** Finds an executable by name on PATH. */
export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}
