/**
 * `pgdr drill --local` end to end, as a user runs it (the real `pgdr` process, a temp
 * PGDR_LOCAL_DIR): a small sample source, backup, verify, the synthesized failover state machine in
 * drill mode against the RDS simulator, validate, teardown. After each run nothing may be left: no
 * process whose command line names the local directory, no work directory.
 */
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DrillReport } from '../../cli/contract';
import { DRILL_STEPS } from '../../local/drill';
import { freePort } from '../../local/pg-cluster';
import { startPgdr } from '../support/cli';

jest.setTimeout(300_000);

const ROWS = 2000;
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function localDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgdr-drill-test-'));
  // Reachable by the postgres OS user (the servers run as postgres when the tests run as root): the clusters live under it.
  chmodSync(dir, 0o755);
  dirs.push(dir);
  return dir;
}

/** PIDs of processes whose command line contains `text` (read from /proc). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function expectNothingLeft(dir: string): void {
  expect(processesMentioning(dir)).toEqual([]);
  expect(existsSync(join(dir, 'work')) ? readdirSync(join(dir, 'work')) : []).toEqual([]);
}

test('drill --local --json: one JSON report, every step in order with its time, RPO/RTO measured within the targets, all rows recovered, nothing left', async () => {
  const dir = localDir();
  const { exited } = startPgdr(dir, ['drill', '--local', '--json', '--rows', String(ROWS)]);
  const run = await exited;
  expect([run.code, run.stderr.match(/^pgdr: .*$/m)?.[0]]).toEqual([0, undefined]);
  const report = JSON.parse(run.stdout) as DrillReport; // stdout is exactly one JSON document
  expect(report).toMatchObject({ ok: true, database: 'drill', source: 'dump', failures: [], targets: { rpoSeconds: 86_400, rtoSeconds: 3600 } });
  expect(report.steps.map((s) => [s.name, s.ok])).toEqual(DRILL_STEPS.map((name) => [name, true]));
  for (const step of report.steps) expect(step.seconds).toBeGreaterThanOrEqual(0);
  expect(report.steps[0].detail).toContain('embedded default');
  expect(report.measured.rtoSeconds).toBeGreaterThan(0);
  expect(report.measured.rtoSeconds).toBeLessThanOrEqual(report.targets.rtoSeconds);
  expect(report.measured.rpoSeconds).toBeGreaterThan(0);
  expect(report.measured.rpoSeconds).toBeLessThanOrEqual(report.targets.rpoSeconds);
  expect(report.data).toEqual({ tables: 5, rows: expect.any(Number), recoveredRows: report.data!.rows });
  expect(report.data!.rows).toBeGreaterThanOrEqual(ROWS);
  // The plain progress (stderr is not a terminal): one line per step, with its time.
  for (const name of DRILL_STEPS) expect(run.stderr).toMatch(new RegExp(`^drill: ok +${name} +\\d+\\.\\d s`, 'm'));
  expectNothingLeft(dir);
});

test('SIGINT during the failover: exit 130, one line, everything stopped and removed', async () => {
  const dir = localDir();
  const { child, exited } = startPgdr(dir, ['drill', '--local', '--rows', String(ROWS)]);
  // The verify line ends the verify step: the failover step (synthesis, the state machine) runs next.
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer | string) => {
      if (/^drill: ok +verify /m.test(String(chunk))) {
        child.stderr!.off('data', onData);
        resolve();
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', () => reject(new Error('pgdr exited before the verify step ended')));
  });
  child.kill('SIGINT');
  const run = await exited;
  expect(run.code).toBe(130);
  expect(run.stderr).toMatch(/^pgdr: drill interrupted by SIGINT; everything it started was stopped and removed$/m);
  expect(run.stderr).toMatch(/^drill: ok +teardown /m);
  expect(run.stdout).toMatch(/^FAILED: local drill of drill/);
  expectNothingLeft(dir);
});

test('an unreachable source: one clear line, exit 1, nothing left', async () => {
  const dir = localDir();
  const port = await freePort();
  const { exited } = startPgdr(dir, ['drill', '--local', '--json', '--source-url', `postgres://app@127.0.0.1:${port}/shop`], { PGPASSWORD: 'Secret-Pw-42' });
  const run = await exited;
  expect(run.code).toBe(1);
  const lines = run.stderr.split('\n').filter((l) => l.startsWith('pgdr: '));
  expect(lines).toEqual([`pgdr: drill of drill FAILED: prepare-source: cannot connect to PostgreSQL at 127.0.0.1:${port}: connection refused (is the server running?)`]);
  const report = JSON.parse(run.stdout) as DrillReport;
  expect(report.ok).toBe(false);
  expect(report.steps.map((s) => [s.name, s.ok])).toEqual([
    ['prepare-source', false],
    ['teardown', true],
  ]);
  expect(run.stdout + run.stderr).not.toContain('Secret-Pw-42');
  expectNothingLeft(dir);
});

test('without --local: the deployed stack; a name the configuration lacks is exit 2, an unreachable AWS one line with exit 3', async () => {
  const unknown = await startPgdr(localDir(), ['drill']).exited;
  expect([unknown.code, unknown.stderr.trim()]).toEqual([2, 'pgdr: unknown database "drill": the configuration has shop']);
  // AWS at a closed loopback port: the stack's outputs cannot be read.
  const aws = { AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'not-a-real-key', AWS_ENDPOINT_URL: 'http://127.0.0.1:9' };
  const unreachable = await startPgdr(localDir(), ['drill', 'shop'], aws).exited;
  expect(unreachable.code).toBe(3);
  expect(unreachable.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^pgdr: cannot reach AWS for cloudformation:DescribeStacks on stack Pgdr: /)]);
  expect(unreachable.stderr).not.toContain('not-a-real-key');
});
