/**
 * A throw-away PostgreSQL server: `initdb` a data directory inside a work directory, start it with
 * `pg_ctl` on a free 127.0.0.1 port (its unix socket in the same directory), stop it by PID and
 * remove the directory. Used by the verify job's `ephemeral` restore tests (startEphemeralServer)
 * and by local/pg-cluster.ts (the test and drill clusters), which share the pieces below.
 *
 * PostgreSQL refuses to run as root: when this process is root (tests on this machine, a
 * container without a USER), initdb and the server run as the `postgres` OS user (runuser); in
 * Lambda and a non-root container they run as ourselves. The superuser password is generated in
 * memory and given to initdb through a 0600 file that is removed right after: never in argv, a
 * log line or an error.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ConnectionInfo } from './connection';
import { withClient } from './pg-client';

/** The uid/gid the server runs as when we are root (the `postgres` OS user); undefined otherwise. */
export interface ServerUser {
  readonly uid: number;
  readonly gid: number;
}

/** Runs `cmd` to completion (stdout and stderr captured); rejects naming the program (`label`, @default cmd) and its output. */
function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, label = cmd): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.on('error', (err) => reject(new Error(`${label} could not start: ${err.message}`)));
    child.on('close', (code, signal) => (code === 0 ? resolve(out) : reject(new Error(`${label} failed (${code ?? signal}): ${out.trim().slice(-2000)}`))));
  });
}

/** The `postgres` OS user's ids when we are root (the server must not run as root), else undefined. */
export async function serverUser(): Promise<ServerUser | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number((await run('id', ['-u', 'postgres'], process.env)).trim());
    const gid = Number((await run('id', ['-g', 'postgres'], process.env)).trim());
    return { uid, gid };
  } catch {
    throw new Error('running as root, and PostgreSQL refuses root: the server runs as the postgres OS user, which does not exist here (create it, or run as an unprivileged user)');
  }
}

/** Runs a server program as the server's user: as `postgres` (runuser) when `user` is set, else as ourselves; `env` is added to ours. */
export function runAsServerUser(user: ServerUser | undefined, cmd: string, args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<string> {
  const fullEnv = { ...process.env, ...env };
  return user ? run('runuser', ['-u', 'postgres', '--', cmd, ...args], fullEnv, cmd) : run(cmd, args, fullEnv);
}

/** Whether the server's user can enter `dir` (always true when it is ourselves). */
export async function serverUserCanEnter(user: ServerUser | undefined, dir: string): Promise<boolean> {
  if (!user) return true;
  return runAsServerUser(user, 'test', ['-x', dir]).then(
    () => true,
    () => false,
  );
}

/** A new directory `<parent>/<prefix>XXXXXX` (parent created), owned by the server's user. */
export async function newServerDir(parent: string, prefix: string, user: ServerUser | undefined): Promise<string> {
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, prefix));
  if (user) await chown(dir, user.uid, user.gid);
  return dir;
}

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface InitDataDirOptions {
  /** Directory of initdb. */
  readonly bin: string;
  /** The server's directory (holds the password file for a moment); `dataDir` is created by initdb. */
  readonly dir: string;
  readonly dataDir: string;
  /** Password of the `postgres` superuser (scram-sha-256 for every connection). */
  readonly password: string;
  /** initdb --locale. */
  readonly locale: string;
  readonly user: ServerUser | undefined;
}

/** `initdb` of a UTF8 cluster whose superuser `postgres` logs in with `password` (given through a 0600 file, removed at once). */
export async function initDataDir(options: InitDataDirOptions): Promise<void> {
  const pwfile = join(options.dir, `pwfile-${randomBytes(4).toString('hex')}`);
  await writeFile(pwfile, `${options.password}\n`, { mode: 0o600 });
  try {
    if (options.user) await chown(pwfile, options.user.uid, options.user.gid);
    await runAsServerUser(options.user, join(options.bin, 'initdb'), [
      '-D', options.dataDir, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', `--locale=${options.locale}`, '--no-sync',
    ]);
  } finally {
    await rm(pwfile, { force: true });
  }
}

/** Server settings as `-c name=value` for pg_ctl's `-o` (which a shell splits): plain names and values only. */
export function settingsOptions(settings: Readonly<Record<string, string | number>>): string {
  return Object.entries(settings)
    .map(([name, value]) => {
      if (!/^[a-z_.]+$/.test(name) || !/^[\w.-]+$/.test(String(value))) throw new Error(`server setting ${name}=${value}: only plain names and values`);
      return ` -c ${name}=${value}`;
    })
    .join('');
}

export interface StartPostmasterOptions {
  /** Directory of pg_ctl and postgres. */
  readonly bin: string;
  /** The server's directory: its unix socket and server.log go there. */
  readonly dir: string;
  readonly dataDir: string;
  /** `-c` settings, after `listen_addresses=127.0.0.1`. */
  readonly settings: Readonly<Record<string, string | number>>;
  readonly user: ServerUser | undefined;
  /** Seconds pg_ctl waits for the server to accept connections. @default 60 */
  readonly timeoutSeconds?: number;
  /** Environment added for pg_ctl and the server it starts (e.g. `RESTORE_TARGET_MALLOC`). */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * Starts the server of `dataDir` with `pg_ctl -w` on a free 127.0.0.1 port and returns the port (a
 * port can be taken between asking and binding: retried a few times).
 */
export async function startPostmaster(options: StartPostmasterOptions): Promise<number> {
  const settings = settingsOptions({ listen_addresses: '127.0.0.1', ...options.settings });
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      await runAsServerUser(options.user, join(options.bin, 'pg_ctl'), [
        '-D', options.dataDir, '-l', join(options.dir, 'server.log'), '-w', '-t', String(options.timeoutSeconds ?? 60), 'start',
        '-o', `-p ${port} -k ${options.dir}${settings}`,
      ], options.env);
      return port;
    } catch (err) {
      if (attempt >= 3) {
        const log = await readFile(join(options.dir, 'server.log'), 'utf8').catch(() => '');
        throw new Error(`${(err as Error).message}${log ? `\nserver.log: ${log.trim().slice(-1500)}` : ''}`);
      }
    }
  }
}

/** The postmaster's PID from `dataDir`/postmaster.pid; undefined when it is not running. */
export function postmasterPid(dataDir: string): number | undefined {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Whether a process with this PID exists (signal 0). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, but is not ours to signal.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Stops a postmaster by PID: fast shutdown (SIGINT), SIGKILL after `graceMs`, then waits until
 * the process is gone (polling: it is not our child, there is no exit event to wait on).
 */
export async function stopPostmaster(pid: number | undefined, graceMs = 30_000): Promise<void> {
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGINT');
    const deadline = Date.now() + graceMs;
    while (isAlive(pid) && Date.now() < deadline) await sleep(50);
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    while (isAlive(pid)) await sleep(50);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// The restore-test server

export interface EphemeralServerOptions {
  /** Directory of initdb, pg_ctl and postgres (the same major as the source, or newer). */
  readonly bin: string;
  /** Parent of the server's directory (`pgdr-ephemeral-XXXXXX`), e.g. the job's ephemeral storage. */
  readonly workDir: string;
  /** Memory the server may use, in MiB: shared_buffers gets a quarter, maintenance_work_mem an eighth (each at least 16). @default 256 */
  readonly memoryMb?: number;
  /** max_connections: pg_restore --jobs N needs N + 1, the restore test two more. @default max(20, 2 x CPUs + 4) */
  readonly maxConnections?: number;
  /** initdb --locale: the server default (the scratch database gets the manifest's own). @default "C" */
  readonly locale?: string;
}

/** A running throw-away server. */
export interface EphemeralServer {
  /** Superuser `postgres` on 127.0.0.1, database `postgres`, no TLS (loopback only). */
  readonly connection: ConnectionInfo;
  /** server_version, e.g. "15.14 (Debian 15.14-0+deb12u1)". */
  readonly version: string;
  /** server_version_num, e.g. 150014. */
  readonly versionNum: number;
  /** The postmaster's PID. */
  readonly pid: number;
  /** The server's directory (data directory, socket and log inside); removed by stop(). */
  readonly dir: string;
  /** Wall-clock seconds of initdb and of the start (pg_ctl -w until it accepts connections). */
  readonly timings: { readonly initdbSeconds: number; readonly startSeconds: number };
  /** Stops the server by PID and removes its directory, always (also after a failed start of a backend). Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Settings of a restore target that is thrown away: no durability (fsync, full-page writes,
 * synchronous commit off; minimal WAL, no WAL senders), no autovacuum, no JIT, memory from the budget,
 * and `dynamic_shared_memory_type=mmap` (files in the data directory) where there is no /dev/shm
 * (Lambda has none).
 */
export function restoreTargetSettings(memoryMb: number, maxConnections: number): Record<string, string | number> {
  const mb = (fraction: number) => `${Math.max(16, Math.floor(memoryMb * fraction))}MB`;
  return {
    fsync: 'off',
    full_page_writes: 'off',
    synchronous_commit: 'off',
    wal_level: 'minimal',
    max_wal_senders: 0,
    archive_mode: 'off',
    autovacuum: 'off',
    // No LLVM: a layer need not carry llvmjit.so and libLLVM.
    jit: 'off',
    dynamic_shared_memory_type: 'mmap',
    huge_pages: 'off',
    shared_buffers: mb(1 / 4),
    maintenance_work_mem: mb(1 / 8),
    max_connections: maxConnections,
    logging_collector: 'off',
  };
}

/**
 * glibc's malloc settings for a restore target's processes (its postmaster's environment, which
 * every backend inherits): memory a backend frees stays in its heap for its next allocation
 * instead of going back to the kernel. A restore's backends allocate and free up to
 * maintenance_work_mem for every index they build and every sort; by default glibc returns the
 * freed top of the heap (above 128 KiB, growing with its dynamic mmap threshold), and the next
 * build touches fresh pages again, each a page fault with the page zeroed: ~13 µs a page on this
 * machine, a Firecracker microVM like Lambda's (bench/speed.ts `firstTouchMicros`). Chunks of
 * 32 MiB and more are still mmap'ed and unmapped when freed; a heap keeps at most 1 GiB free.
 * The peak memory is the same; only its return to the kernel waits for the server's stop.
 * Measured (raw `pg_restore -j 3` of the bench's 1.2 GB archive into a server with
 * `restoreTargetSettings(1024, 20)`, 3 interleaved pairs): 12.66 / 11.86 / 10.58 s and
 * 23.1 / 21.8 / 19.8 CPU-s of the machine with them, 13.62 / 13.53 / 12.74 s and
 * 24.7 / 25.4 / 23.6 CPU-s without.
 */
export const RESTORE_TARGET_MALLOC: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: String(32 * 1024 * 1024),
  MALLOC_TRIM_THRESHOLD_: String(1024 * 1024 * 1024),
  MALLOC_TOP_PAD_: String(256 * 1024 * 1024),
};

/**
 * initdb + start of a throw-away server in a new directory under `workDir`. On any failure the
 * server (if it started) is stopped and the directory removed before the error is thrown.
 */
export async function startEphemeralServer(options: EphemeralServerOptions): Promise<EphemeralServer> {
  const lacking = ['initdb', 'pg_ctl', 'postgres'].filter((tool) => !existsSync(join(options.bin, tool)));
  if (lacking.length > 0) throw new Error(`the ephemeral server's bin directory ${options.bin} has no ${lacking.join(', ')}: it must hold a PostgreSQL server (PGDR_PG_SERVER_BIN)`);
  // The unix socket lives in the server's directory: its path must fit sockaddr_un (107 bytes).
  const socketPath = join(options.workDir, 'pgdr-ephemeral-XXXXXX', '.s.PGSQL.65535');
  if (Buffer.byteLength(socketPath) > 107) throw new Error(`the work directory ${options.workDir} is too long for the ephemeral server's unix socket (${Buffer.byteLength(socketPath)} bytes for ${socketPath}, at most 107): use a shorter PGDR_WORK_DIR`);
  const user = await serverUser();
  if (!(await serverUserCanEnter(user, options.workDir))) {
    throw new Error(`the postgres OS user cannot enter the work directory ${options.workDir}: give it search permission (o+x), or run as an unprivileged user`);
  }
  const dir = await newServerDir(options.workDir, 'pgdr-ephemeral-', user);
  const dataDir = join(dir, 'data');
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      await stopPostmaster(postmasterPid(dataDir));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
  try {
    const password = randomBytes(24).toString('base64url');
    const t0 = performance.now();
    await initDataDir({ bin: options.bin, dir, dataDir, password, locale: options.locale ?? 'C', user });
    const t1 = performance.now();
    const maxConnections = options.maxConnections ?? Math.max(20, 2 * availableParallelism() + 4);
    const port = await startPostmaster({ bin: options.bin, dir, dataDir, user, settings: restoreTargetSettings(options.memoryMb ?? 256, maxConnections), env: RESTORE_TARGET_MALLOC });
    const timings = { initdbSeconds: Math.round(t1 - t0) / 1000, startSeconds: Math.round(performance.now() - t1) / 1000 };
    const pid = postmasterPid(dataDir);
    if (pid === undefined) throw new Error(`the ephemeral server started but ${dataDir}/postmaster.pid names no PID`);
    const connection: ConnectionInfo = { host: '127.0.0.1', port, dbname: 'postgres', username: 'postgres', password, sslmode: 'disable' };
    const { version, versionNum } = await withClient(connection, async (client) => {
      const { rows } = await client.query<{ version: string; num: string }>(`SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num`);
      return { version: rows[0].version, versionNum: Number(rows[0].num) };
    });
    return { connection, version, versionNum, pid, dir, timings, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The directories startEphemeralServer makes under its work directory. */
const SERVER_DIR = /^pgdr-ephemeral-[A-Za-z0-9]{6}$/;

/**
 * Stops and removes the ephemeral servers a run stopped at its timeout left in `workDir` (call it
 * where no other run uses `workDir` at the same time: a Lambda environment runs one invocation at
 * a time, a Fargate task has its own storage). Only pgdr's own directories are touched, and a PID
 * is signalled only when that process is the postmaster of that very data directory (a PID can be
 * reused). Returns the directories removed.
 */
export async function stopLeftoverServers(workDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(workDir)).filter((n) => SERVER_DIR.test(n));
  } catch {
    return [];
  }
  for (const name of names) {
    const dataDir = join(workDir, name, 'data');
    const pid = postmasterPid(dataDir);
    const cmdline = pid === undefined ? '' : await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (pid !== undefined && cmdline.split('\0').includes(dataDir)) await stopPostmaster(pid);
    await rm(join(workDir, name), { recursive: true, force: true });
  }
  return names;
}
