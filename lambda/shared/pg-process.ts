/**
 * Runs the PostgreSQL client tools (pg_dump, pg_restore, psql) and helpers (zstd) as child
 * processes. Connection settings and the password reach the child through its environment
 * (PGHOST, ..., PGPASSWORD), never through argv, so neither `ps` nor a logged command line
 * shows them. stderr is kept for error messages: its last 16 KiB, and every error line
 * (`ERROR:`, `FATAL:`, `pg_restore: error: ...`; the first MAX_ERROR_LINES of them, each cut at
 * MAX_LINE_CHARS) however much the tool wrote after it, so the line naming the cause survives a
 * long CONTEXT / "Command was" / warning tail.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn, ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { basename, delimiter, dirname, join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { ConnectionInfo, libpqEnv } from './connection';

const STDERR_KEEP = 16 * 1024;
/** At most this many error lines are kept (the first ones: the cause comes first). */
export const MAX_ERROR_LINES = 10;
/** Each kept line is cut to this many characters. */
export const MAX_LINE_CHARS = 400;
/** Lines of the stderr tail a summary shows besides the error lines. */
const TAIL_LINES = 3;

/** A line that reports an error: the server's `ERROR:`/`FATAL:`/`PANIC:` or a tool's `error:`. */
const ERROR_LINE = /\b(?:error|fatal|panic):/i;

export interface ToolExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The tail of stderr. */
  readonly stderr: string;
  /** Every error line of stderr in order, the first MAX_ERROR_LINES of them, each cut at MAX_LINE_CHARS. */
  readonly errorLines?: readonly string[];
  /** How many error lines stderr had in all (more than errorLines.length when some were left out). */
  readonly errorCount?: number;
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
  /** Its stdout; an empty stream when the output went straight to another tool (`stdoutTo`). */
  readonly stdout: Readable;
  /** Resolves when the process has exited (never rejects; a spawn error becomes code null). */
  readonly exited: Promise<ToolExit>;
}

export interface StartOptions {
  /** Connection for libpq tools; sets PGHOST..PGPASSWORD in the child's environment. */
  readonly connection?: ConnectionInfo;
  /** Give the child a writable stdin. @default false (stdin ignored) */
  readonly stdin?: boolean;
  /**
   * Connect this tool's stdout to the stdin of `stdoutTo` (started with `stdin: true`), so the
   * bytes pass from one process to the other without entering Node. Our copy of that stdin is
   * closed once the child holds it: the reader sees end-of-file when this tool exits.
   */
  readonly stdoutTo?: RunningTool;
  /** Write this tool's stdout to this open file descriptor (the caller's copy may be closed once started): no byte enters Node. */
  readonly stdoutFd?: number;
  /** Write this tool's stdout into this socket (a StagedOutput's `childEnd`); this process's copy is closed once the child holds it. */
  readonly stdoutSocket?: Socket;
  /**
   * The size of the tool's stdout buffer (C stdio), set as coreutils' `stdbuf -o` does it: its
   * libstdbuf.so preloaded with `_STDBUF_O` (the tools layer packs the library; else the system's).
   * pg_dump writes its archive to stdout in 4 KiB writes otherwise. Without the library: unchanged.
   */
  readonly stdoutBufferBytes?: number;
  /**
   * Called with each complete line of the tool's stderr as it comes (progress a caller acts on, such
   * as pg_restore's "finished item" lines). A line for which it returns true is the caller's: it is
   * left out of the stderr tail kept for messages (error lines are kept whatever it returns).
   */
  readonly onStderrLine?: (line: string) => boolean | void;
}

/** Where coreutils' libstdbuf.so may be: next to packed tools (`<dir>/lib`, the Lambda layer), then the distributions' places. */
export function stdbufLibraryCandidates(binDir: string): string[] {
  return [join(dirname(binDir), 'lib', 'libstdbuf.so'), '/usr/libexec/coreutils/libstdbuf.so', '/usr/lib/coreutils/libstdbuf.so', '/usr/lib64/coreutils/libstdbuf.so'];
}

const stdbufLibraries = new Map<string, string | undefined>();
/** coreutils' libstdbuf.so for tools in `binDir`, if there is one (looked up once per directory). */
export function stdbufLibrary(binDir: string): string | undefined {
  if (!stdbufLibraries.has(binDir)) stdbufLibraries.set(binDir, stdbufLibraryCandidates(binDir).find((f) => existsSync(f)));
  return stdbufLibraries.get(binDir);
}

/** The environment that makes a C program's stdout buffer `bytes` long (what `stdbuf -o <bytes>` sets), or nothing without the library. */
function stdoutBufferEnv(binDir: string, bytes: number | undefined, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const library = bytes ? stdbufLibrary(binDir) : undefined;
  if (!library || !Number.isInteger(bytes) || bytes! < 1) return {};
  return { LD_PRELOAD: [library, env.LD_PRELOAD].filter(Boolean).join(' '), _STDBUF_O: String(bytes) };
}

/**
 * A parallel pg_dump's or pg_restore's `--verbose` line saying that an item of table data is done
 * ("pg_restore: finished item 3379 TABLE DATA wide"): its dump id and tag (the table's name,
 * unquoted, without its schema). Undefined for any other line.
 */
export function finishedTableData(line: string): { readonly dumpId: number; readonly tag: string } | undefined {
  const m = /^pg_(?:dump|restore): finished item (\d+) TABLE DATA (.*)$/.exec(line);
  return m ? { dumpId: Number(m[1]), tag: m[2] } : undefined;
}

/** Full path of a tool in `binDir`, or a clear error. */
export function toolPath(binDir: string, tool: string): string {
  const path = join(binDir, tool);
  if (!existsSync(path)) throw new ToolError(tool, undefined, `${tool} not found in ${binDir} (set PGDR_PG_BIN to the directory holding the PostgreSQL client tools)`);
  return path;
}

/**
 * Messages of the tools untranslated (English) whatever the caller's locale: pgdr reads them (the
 * error lines here, pg_dump's "finished item" lines in the directory format, lambda/dump/core.ts),
 * and PostgreSQL's client tools are translated (Debian ships e.g. de/LC_MESSAGES/pg_restore-15.mo).
 * gettext takes LANGUAGE before LC_ALL, LC_MESSAGES and LANG for messages only; the other locale
 * categories (character classes, number formats) stay the caller's.
 */
const UNTRANSLATED_MESSAGES = { LANGUAGE: 'en' } as const;

/** The child's environment: ours without any PG* variable, messages untranslated, plus the connection's libpq variables. */
function childEnv(binDir: string, connection?: ConnectionInfo): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  Object.assign(env, UNTRANSLATED_MESSAGES);
  // A packed tools directory (<dir>/bin + <dir>/lib, as in the Lambda layer) brings its libraries.
  const libDir = binDir ? join(dirname(binDir), 'lib') : '';
  if (libDir && existsSync(libDir)) env.LD_LIBRARY_PATH = [libDir, env.LD_LIBRARY_PATH].filter(Boolean).join(delimiter);
  return connection ? { ...env, ...libpqEnv(connection) } : env;
}

/** The signal that stops the tools started in its scope (`withToolAbort`). */
const toolAbort = new AsyncLocalStorage<AbortSignal>();

/**
 * Runs `fn` so that every tool it starts (`startTool`, at any depth) is SIGKILLed when `signal`
 * aborts, or at once if it has already aborted: Ctrl-C stops pg_restore and zstd, and the
 * caller's error paths clean up (the verify job: `pgdr verify --local`). Without a signal: `fn()`.
 */
export function withToolAbort<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  return signal ? toolAbort.run(signal, fn) : fn();
}

/** SIGKILLs `tool` (`killTool`) when `signal` aborts (at once if it has), until the tool has exited. */
function killOnAbort(tool: RunningTool, signal: AbortSignal): void {
  const kill = () => void killTool(tool);
  if (signal.aborted) return kill();
  signal.addEventListener('abort', kill, { once: true });
  const forget = () => signal.removeEventListener('abort', kill);
  tool.child.once('close', forget);
  tool.child.once('error', forget);
}

/** Starts `binDir/tool args`. stdout is a pipe; stderr is collected. */
export function startTool(binDir: string, tool: string, args: string[], options: StartOptions = {}): RunningTool {
  const path = tool.includes('/') ? tool : toolPath(binDir, tool);
  const into = options.stdoutTo?.stdin;
  if (options.stdoutTo && !into) throw new ToolError(tool, undefined, `${options.stdoutTo.tool} was started without a stdin to send ${tool}'s output to`);
  const env = childEnv(binDir, options.connection);
  const child = spawn(path, args, {
    env: { ...env, ...stdoutBufferEnv(binDir, options.stdoutBufferBytes, env) },
    // A Writable with a file descriptor (the other child's stdin pipe): the child gets a copy of it.
    stdio: [options.stdin ? 'pipe' : 'ignore', into ?? options.stdoutFd ?? options.stdoutSocket ?? 'pipe', 'pipe'],
  });
  // Only the two children hold the pipe now; Node never writes to it.
  into?.destroy();
  // The child holds its copy of the socket: the reader sees end-of-file when the child exits.
  options.stdoutSocket?.destroy();
  const collector = new StderrCollector(options.onStderrLine);
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => collector.add(chunk));
  // EPIPE on stdin when the child exits early is reported through its exit status instead.
  child.stdin?.on('error', () => undefined);
  const exited = new Promise<ToolExit>((resolve) => {
    let spawnError: Error | undefined;
    child.on('error', (err) => {
      spawnError = err;
      resolve({ code: null, signal: null, stderr: `cannot start ${tool}: ${err.message}` });
    });
    child.on('close', (code, signal) => {
      if (!spawnError) resolve({ code, signal, ...collector.end() });
    });
  });
  // A tool given by path is named by its file name in messages.
  const running: RunningTool = { tool: basename(tool), child, stdin: child.stdin, stdout: child.stdout ?? Readable.from([]), exited };
  const abort = toolAbort.getStore();
  if (abort) killOnAbort(running, abort);
  return running;
}

/**
 * Keeps the tail of a stream of stderr text and its error lines, bounded in count and length. Each
 * complete line goes to `onLine` first (see StartOptions.onStderrLine); a line it takes (returns
 * true) stays out of the tail unless it is an error line.
 */
export class StderrCollector {
  private tail = '';
  private partial = '';
  private readonly errors: string[] = [];
  private errorTotal = 0;

  constructor(private readonly onLine?: (line: string) => boolean | void) {}

  add(chunk: string): void {
    const lines = (this.partial + chunk).split('\n');
    // A line longer than we would keep is judged on its start (where "ERROR:" is).
    this.partial = lines.pop()!.slice(0, 4 * MAX_LINE_CHARS);
    for (const line of lines) this.line(line, true);
  }

  end(): { stderr: string; errorLines: string[]; errorCount: number } {
    if (this.partial) this.line(this.partial, false);
    this.partial = '';
    return { stderr: this.tail, errorLines: [...this.errors], errorCount: this.errorTotal };
  }

  private line(raw: string, complete: boolean): void {
    const taken = this.onLine?.(raw) === true;
    const line = raw.trim();
    const error = ERROR_LINE.test(line);
    if (!taken || error) this.tail = (this.tail + raw + (complete ? '\n' : '')).slice(-STDERR_KEEP);
    if (!error) return;
    this.errorTotal++;
    if (this.errors.length < MAX_ERROR_LINES) this.errors.push(cut(line));
  }
}

const cut = (line: string) => (line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS - 1)}…` : line);

/**
 * What a tool said, for an error message: every error line (bounded: the first MAX_ERROR_LINES,
 * each cut at MAX_LINE_CHARS, and how many were left out), then the last lines of stderr not
 * already shown (CONTEXT, the final "errors ignored on restore: N"), joined with " | ".
 */
export function stderrSummary(stderr: string, found?: { readonly errorLines?: readonly string[]; readonly errorCount?: number }): string {
  let errors = found?.errorLines;
  let total = found?.errorCount ?? errors?.length ?? 0;
  if (!errors) {
    const collector = new StderrCollector();
    collector.add(stderr);
    ({ errorLines: errors, errorCount: total } = collector.end());
  }
  const all = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const errorSet = new Set(errors);
  const tail = all.slice(-TAIL_LINES).map(cut).filter((l) => !errorSet.has(l));
  const more = total > errors.length ? [`(${total - errors.length} more error lines)`] : [];
  return [...errors, ...more, ...tail].join(' | ');
}

/**
 * One exit for two runs of the same tool that stand for one (a restore in two steps): the first
 * failure's code or signal, both runs' error lines in order (bounded as one run's), both stderr tails.
 */
export function joinExits(first: ToolExit, second: ToolExit): ToolExit {
  const failed = first.code !== 0 ? first : second;
  const errorLines = [...(first.errorLines ?? []), ...(second.errorLines ?? [])];
  return {
    code: failed.code,
    signal: failed.signal,
    stderr: [first.stderr, second.stderr].filter(Boolean).join('\n'),
    errorLines: errorLines.slice(0, MAX_ERROR_LINES),
    errorCount: (first.errorCount ?? first.errorLines?.length ?? 0) + (second.errorCount ?? second.errorLines?.length ?? 0),
  };
}

/** Describes how a tool ended, e.g. "pg_dump was killed by SIGKILL: <stderr>". */
export function describeExit(tool: string, exit: ToolExit): string {
  const how = exit.signal ? `was killed by ${exit.signal}` : exit.code === null ? 'could not start' : `exited with code ${exit.code}`;
  const said = stderrSummary(exit.stderr, exit);
  return said ? `${tool} ${how}: ${said}` : `${tool} ${how}`;
}

/** SIGKILLs a running tool; true when it was still running (so its exit is our doing). */
export function killTool(tool: RunningTool | undefined): boolean {
  if (!tool || tool.child.exitCode !== null || tool.child.signalCode !== null) return false;
  tool.child.kill('SIGKILL');
  return true;
}

/** The ToolError of a tool that ended with `exit`: its name, the exit, and describeExit's message. */
export function toolError(tool: string, exit: ToolExit): ToolError {
  return new ToolError(tool, exit, describeExit(tool, exit));
}

/** Rejects with a ToolError unless the tool exited with code 0. */
export async function expectSuccess(running: RunningTool): Promise<ToolExit> {
  const exit = await running.exited;
  if (exit.code !== 0) throw toolError(running.tool, exit);
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
