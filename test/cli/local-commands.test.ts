/**
 * The CLI end to end in local mode, as on-call types it: `pgdr backup|verify|status|failover|
 * approve|reject|runbook --local` through bin/pgdr.js, against a real PostgreSQL source, the local
 * S3 server over a temp PGDR_LOCAL_DIR and the synthesized state machine with the RDS simulator.
 * A failover that needs approval is answered from a second `pgdr` process, once the first one
 * says it is waiting (an event on its stderr, not a sleep).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseStatus } from '../../cli/contract';
import { STATES } from '../../lib/failover-workflow';
import { PgCluster } from '../../local/pg-cluster';
import { runPgdr, startPgdr } from '../support/cli';

jest.setTimeout(300_000);

let pg: PgCluster;
let dir: string;
let configPath: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgdr-cmds-'));
  pg = await PgCluster.start();
  await pg.createDatabase('shop');
  await pg.sql('shop', `CREATE TABLE orders (id int PRIMARY KEY, "Note" text); INSERT INTO orders SELECT i, 'order ' || i FROM generate_series(1, 300) i;`);
  const major = Math.floor(Number((await pg.sql<{ v: string }>('postgres', "SELECT current_setting('server_version_num') AS v"))[0].v) / 10000);
  configPath = join(dir, 'pgdr.config.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      stackName: 'PgdrCli',
      databases: [
        {
          name: 'shop',
          source: { type: 'external', secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgdr/shop-AbCdEf', engineMajorVersion: major },
          rpo: '24h',
          rto: '1h',
          backupClasses: [{ name: 'daily', schedule: { expression: 'cron(0 3 * * ? *)' }, retention: { expireAfterDays: 30 } }],
          verification: { smokeQueries: [{ name: 'orders present', sql: 'SELECT 1 FROM orders LIMIT 1' }] },
          failover: { requireApproval: true, cutover: { ssmParameterName: '/shop/database-url' } },
        },
      ],
    }),
  );
}, 120_000);

afterAll(async () => {
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const local = (...args: string[]) => runPgdr(join(dir, 'local'), [...args, '--local', '--config', configPath]);
const env = () => ({ PGPASSWORD: pg.password });
const url = () => `postgres://postgres@127.0.0.1:${pg.port}/shop`;

test('backup, verify, then status shows both within the RPO', async () => {
  const backup = await runPgdr(join(dir, 'local'), ['backup', 'shop', '--local', '--config', configPath, '--source-url', url(), '--json'], env());
  expect([backup.code, backup.stderr]).toEqual([0, '']);
  const verify = await runPgdr(join(dir, 'local'), ['verify', 'shop', '--local', '--config', configPath, '--source-url', url(), '--json'], env());
  expect([verify.code, verify.stderr]).toEqual([0, '']);
  expect(JSON.parse(verify.stdout).ok).toBe(true);

  const status = await local('status', '--json');
  expect(status.code).toBe(0);
  const [shop] = JSON.parse(status.stdout) as DatabaseStatus[];
  expect(shop).toMatchObject({ database: 'shop', rpoSeconds: 86_400, rtoSeconds: 3600, withinRpo: true, alarmsKnown: false, problems: [] });
  expect(shop.newestVerified?.key).toBe(JSON.parse(backup.stdout).dump.key);
  expect(shop.lastRestoreTest?.ok).toBe(true);

  const table = await local('status');
  expect(table.code).toBe(0);
  expect(table.stdout).toMatch(/shop/);
  const unknown = await local('status', 'nosuch');
  expect([unknown.code, unknown.stderr]).toEqual([2, 'pgdr: unknown database "nosuch": the configuration has shop\n']);
});

async function failoverWaitingForApproval(): Promise<{ execution: string; finished: Promise<{ code: number; stdout: string; stderr: string }> }> {
  const { child, exited } = startPgdr(join(dir, 'local'), ['failover', 'shop', '--source', 'dump', '--local', '--config', configPath, '--source-url', url(), '--json'], env());
  const execution = await new Promise<string>((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /waiting for approval .*pgdr approve (\S+)/.exec(seen);
      if (match) {
        child.stderr!.off('data', onData);
        resolve(match[1]);
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', () => reject(new Error(`pgdr failover ended before asking for approval: ${seen}`)));
  });
  return { execution, finished: exited };
}

test('failover --local waits for approval; pgdr approve from another process lets it cut over', async () => {
  const { execution, finished } = await failoverWaitingForApproval();
  const approve = await local('approve', execution, '--comment', 'validation looks right');
  expect([approve.code, approve.stdout, approve.stderr]).toEqual([0, `approved: ${execution}\n`, '']);
  const run = await finished;
  expect(run.code).toBe(0);
  const outcome = JSON.parse(run.stdout) as { status: string; states: Array<{ name: string }> };
  expect(outcome.status).toBe('SUCCEEDED');
  const states = outcome.states.map((s) => s.name);
  expect(states).toEqual(expect.arrayContaining([STATES.restoreDump, STATES.validate, STATES.approve, STATES.cutover]));
  // The live display said each state with the elapsed time against the RTO.
  expect(run.stderr).toMatch(new RegExp(`${STATES.validate} \\[\\d+s of RTO 1h\\]`));
  expect(run.stderr).not.toContain(pg.password);

  const status = await local('status', 'shop', '--json');
  const [shop] = JSON.parse(status.stdout) as DatabaseStatus[];
  expect(shop.lastRecovery).toMatchObject({ mode: 'failover', source: 'dump', ok: true });
});

test('pgdr reject ends the run without cutover: exit 1 naming Rejected', async () => {
  const { execution, finished } = await failoverWaitingForApproval();
  const reject = await local('reject', execution);
  expect([reject.code, reject.stdout]).toEqual([0, `rejected: ${execution}\n`]);
  const run = await finished;
  expect(run.code).toBe(1);
  const outcome = JSON.parse(run.stdout) as { status: string; error: string; states: Array<{ name: string }> };
  expect(outcome).toMatchObject({ status: 'FAILED', error: 'Rejected' });
  expect(outcome.states.map((s) => s.name)).not.toContain(STATES.cutover);
  expect(run.stderr.trim().split('\n').pop()).toMatch(new RegExp(`^pgdr: ${execution} ended FAILED: Rejected`));
  // Answering again: the run is no longer waiting.
  const again = await local('approve', execution);
  expect(again.code).not.toBe(0);
  expect(again.stderr.trim().split('\n')).toHaveLength(1);
});

test('failover input errors are one line with exit 2, before anything starts', async () => {
  const cases: Array<[string[], string]> = [
    [['failover', 'nosuch', '--source', 'dump'], 'pgdr: unknown database "nosuch": the configuration has shop\n'],
    [['failover', 'shop', '--source', 'pitr'], 'pgdr: shop is not an RDS instance (source.type external): only --source dump can recover it\n'],
    [['failover', 'shop', '--source', 'dump', '--time', '2026-11-26T03:00:00Z'], 'pgdr: --time goes with --source pitr (received --source dump)\n'],
  ];
  for (const [args, stderr] of cases) {
    const run = await local(...args);
    expect([run.code, run.stdout, run.stderr]).toEqual([2, '', stderr]);
  }
  const noSource = await local('failover', 'shop');
  expect([noSource.code, noSource.stderr]).toEqual([2, "error: required option '--source <source>' not specified\n"]);
});

test('runbook --local --out writes the runbook of the configuration', async () => {
  const out = join(dir, 'RUNBOOK.md');
  const run = await local('runbook', '--out', out);
  expect(run.code).toBe(0);
  const text = readFileSync(out, 'utf8');
  expect(text).toMatch(/shop/);
  expect(text).toMatch(/```mermaid/);
  expect(text).toContain('PgdrCli-shop-');
});

test('a corrupt local backup: verify fails with one line, a failover from it fails before any cutover', async () => {
  // s3rver keeps each object in a file named after its key: flip bytes in the middle of the newest dump.
  const backup = await runPgdr(join(dir, 'local'), ['backup', 'shop', '--local', '--config', configPath, '--source-url', url(), '--json'], env());
  expect(backup.code).toBe(0);
  const key = (JSON.parse(backup.stdout) as { dump: { key: string } }).dump.key;
  const file = findObjectFile(join(dir, 'local', 's3'), key.split('/').pop()!);
  const bytes = readFileSync(file);
  for (let i = 0; i < 64; i++) bytes[Math.floor(bytes.length / 2) + i] ^= 0xff;
  writeFileSync(file, bytes);

  const verify = await runPgdr(join(dir, 'local'), ['verify', 'shop', '--local', '--config', configPath, '--source-url', url()], env());
  expect(verify.code).toBe(1);
  expect(verify.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^pgdr: verification of ${key.replace(/[.]/g, '\\.')} failed: .*(sha256|SHA-256)`, 'i'))]);

  const failover = await runPgdr(
    join(dir, 'local'),
    ['failover', 'shop', '--source', 'dump', '--key', key, '--no-approval', '--local', '--config', configPath, '--source-url', url(), '--json'],
    env(),
  );
  expect(failover.code).toBe(1);
  const outcome = JSON.parse(failover.stdout) as { status: string; states: Array<{ name: string }> };
  expect(outcome.status).toBe('FAILED');
  expect(outcome.states.map((s) => s.name)).not.toContain(STATES.cutover);
  expect(failover.stderr.trim().split('\n').pop()).toMatch(/^pgdr: local-\S+ ended FAILED: /);
});

function findObjectFile(root: string, name: string): string {
  for (const entry of readdirSync(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.startsWith(name) && entry.name.endsWith('._S3rver_object')) return join(entry.parentPath ?? entry.path, entry.name);
  }
  throw new Error(`no stored object for ${name} under ${root}`);
}
