/**
 * LocalBackend's local approvals: a failover that needs an approval writes
 * `.pgdr/approvals/<execution>.json` and waits for `<execution>.answer.json`, which
 * `answerApproval` writes (`pgdr approve|reject --local`). Real PostgreSQL source, the local S3
 * server over a temp PGDR_LOCAL_DIR, the synthesized state machine with the real handlers.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowEvent } from '../../cli/contract';
import { CliError } from '../../cli/errors';
import { STATES } from '../../lib/failover-workflow';
import { approvalPaths, LocalBackend, openLocalBackend } from '../../local/backend';
import { parseConfig } from '../../lib/config';
import { PgCluster } from '../../local/pg-cluster';
import { sampleData } from '../../local/sample-data';

jest.setTimeout(300_000);

const DB = 'approvals';
let dir: string;
let source: PgCluster;
let backend: LocalBackend;
const savedDir = process.env.PGDR_LOCAL_DIR;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgdr-local-backend-'));
  process.env.PGDR_LOCAL_DIR = dir;
  source = await PgCluster.start();
  await source.createDatabase('app');
  await source.sql('app', sampleData(500).sql);
  const major = Math.floor(Number((await source.sql<{ v: string }>('postgres', "SELECT current_setting('server_version_num') AS v"))[0].v) / 10000);
  // An approval guards a cutover: the database has one target (an SSM parameter, a local stand-in).
  const config = parseConfig({
    stackName: 'PgdrApprovals',
    databases: [
      {
        name: DB,
        source: { type: 'external', secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgdr/approvals-AbCdEf', engineMajorVersion: major },
        rpo: '24h',
        rto: '1h',
        backupClasses: [{ name: 'daily', schedule: { expression: 'cron(0 3 * * ? *)' }, retention: { expireAfterDays: 30 } }],
        failover: { requireApproval: true, cutover: { ssmParameterName: '/approvals/database-url' } },
      },
    ],
  });
  backend = await openLocalBackend({ config, sourceUrl: source.url('app'), redact: (t) => t });
  const manifest = await backend.backup(DB);
  const record = await backend.verify(DB, manifest.dump.key);
  expect(record.ok).toBe(true);
}, 300_000);

afterAll(async () => {
  await backend?.close();
  await source?.stop();
  if (savedDir === undefined) delete process.env.PGDR_LOCAL_DIR;
  else process.env.PGDR_LOCAL_DIR = savedDir;
  rmSync(dir, { recursive: true, force: true });
});

/** Starts a failover that needs approval; answers the request file with `approve` once it appears. */
async function runAnswered(approve: boolean) {
  const run = await backend.startFailover({ database: DB, source: 'dump', approval: 'required' });
  const paths = approvalPaths(dir, run.executionId);
  const events: WorkflowEvent[] = [];
  let request: Record<string, unknown> | undefined;
  const outcome = await backend.follow(run.executionId, (event) => {
    events.push(event);
    if (event.type === 'approval-requested') {
      // The event comes once the request file is written: read it, then answer as `pgdr approve|reject` does.
      expect(existsSync(paths.answer)).toBe(false);
      request = JSON.parse(readFileSync(paths.request, 'utf8')) as Record<string, unknown>;
      void backend.answerApproval(run.executionId, { approve, comment: 'checked the summary' });
    }
  });
  return { run, outcome, events, request: () => request, paths };
}

test('approval requested, answered "reject": the run ends Rejected, no cutover, the recovery record says failed', async () => {
  const { run, outcome, events, request, paths } = await runAnswered(false);
  expect(events.filter((e) => e.type === 'approval-requested')).toHaveLength(1);
  expect([outcome.status, outcome.error]).toEqual(['FAILED', 'Rejected']);
  expect(request()).toMatchObject({ executionId: run.executionId, state: STATES.approve, approve: `pgdr approve ${run.executionId} --local` });
  expect(String(request()!.message)).toContain(run.executionId);
  expect(JSON.parse(readFileSync(paths.answer, 'utf8'))).toMatchObject({ approve: false, comment: 'checked the summary' });
  const states = outcome.states.map((s) => s.name);
  expect(states).toContain(STATES.approve);
  expect(states).not.toContain(STATES.cutover);
  expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['state-entered', 'state-exited', 'approval-requested', 'failed']));
  expect((await backend.recoveryRecord(DB, run.executionId))?.outcome).toBe('failed');
});

test('approval answered "approve": the run goes on and succeeds', async () => {
  const { run, outcome } = await runAnswered(true);
  expect([outcome.status, outcome.error]).toEqual(['SUCCEEDED', undefined]);
  expect(outcome.states.map((s) => s.name)).toEqual(expect.arrayContaining([STATES.approve, STATES.finish]));
  expect((await backend.recoveryRecord(DB, run.executionId))?.outcome).toBe('succeeded');
  // Each state has its entry time and duration, in order.
  const times = outcome.states.map((s) => s.enteredAt.getTime());
  expect([...times].sort((a, b) => a - b)).toEqual(times);
});

test('answering an execution with no pending request, or twice: one clear error', async () => {
  await expect(backend.answerApproval('local-nothing', { approve: true })).rejects.toThrow(CliError);
  await expect(backend.answerApproval('local-nothing', { approve: true })).rejects.toThrow(/no pending local approval for local-nothing/);
  await expect(backend.answerApproval('../s3/x', { approve: true })).rejects.toThrow(/not a local execution name/);
  const answered = readdirSync(join(dir, 'approvals')).find((f) => f.endsWith('.answer.json'))!.replace(/\.answer\.json$/, '');
  await expect(backend.answerApproval(answered, { approve: true })).rejects.toThrow(/already answered/);
});

test('status from the local vault: newest backup and newest verified, last recovery', async () => {
  const [status] = await backend.status(DB);
  expect(status).toMatchObject({ database: DB, rpoSeconds: 86_400, rtoSeconds: 3600, withinRpo: true, alarmsKnown: false, problems: [] });
  expect(status.newestVerified?.key).toBe(status.newestBackup?.key);
  expect(status.lastRestoreTest?.ok).toBe(true);
  expect(status.lastRecovery).toMatchObject({ mode: 'failover', source: 'dump', ok: true });
});
