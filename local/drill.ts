/**
 * `pgdr drill --local`: the whole recovery loop on this machine, with no AWS account.
 *
 *   prepare-source  a PostgreSQL cluster under `.pgdr/work/<run>` filled with sample data
 *                   (local/sample-data.ts), or the database of `sourceUrl`
 *   backup          the dump core into the local vault (`.pgdr/s3`)
 *   verify          the verify core: integrity and a restore test
 *   failover        the failover state machine synthesized from the configuration, run by the
 *                   local interpreter in DRILL mode from that dump into a new simulated RDS
 *                   instance (a real cluster), with the real handlers (local/backend.ts)
 *   validate        the workflow's Validate state: the new instance against the manifest and the
 *                   smoke queries; source rows vs recovered rows
 *   teardown        everything stopped by PID, `.pgdr/work/<run>` removed (always, also after a
 *                   failure or an abort)
 *
 * The database's targets and settings come from the configuration when it names the database,
 * else from an embedded default (DEFAULT_DRILL_DATABASE, rpo 24h, rto 1h, external source).
 */
import { chmodSync, mkdirSync, mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DatabaseConfig, parseConfig, PgdrConfig } from '../lib/config';
import { DEFAULT_DRILL_DATABASE, DRILL_STEPS } from '../cli/contract';
import type { DrillProgress, DrillReport, DrillStep, DrillStepName } from '../cli/contract';
import { localRoot } from '../cli/local';
import { loadOptionalConfig } from '../cli/resolve';
import { parseUrl } from '../cli/shared';
import { CliError } from '../cli/errors';
import { assertName, manifestKeyOf } from '../lambda/shared/layout';
import { connectClient } from '../lambda/shared/pg-client';
import { serverVersionNum } from '../lambda/shared/locale';
import { STATES } from '../lib/failover-workflow';
import type { BackupManifest } from '../lambda/shared/records';
import { LocalBackend, openLocalBackend } from './backend';
import { isAlive, PgCluster } from './pg-cluster';
import { DEFAULT_SAMPLE_ROWS, sampleData } from './sample-data';

/** The database name of `pgdr drill --local` without an argument. */
/** The database created on the drill's own source cluster. */
const SOURCE_DATABASE = 'drill_source';

export { DEFAULT_DRILL_DATABASE, DRILL_STEPS };
export type { DrillProgress, DrillStepName };

export interface LocalDrillOptions {
  /** @default DEFAULT_DRILL_DATABASE */
  readonly database?: string;
  /** --config PATH; default ./pgdr.config.json when present. */
  readonly configPath?: string;
  /** Drill this database instead of a generated one (its data is backed up and restored, never changed). */
  readonly sourceUrl?: string;
  /** Sample rows (in all tables). @default DEFAULT_SAMPLE_ROWS */
  readonly rows?: number;
  readonly pgBin?: string;
  readonly verbose?: boolean;
  readonly redact: (text: string) => string;
  /** Stops the current step; teardown still runs. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: DrillProgress) => void;
}

/** The drill's configuration: the user's when it names the database, else the embedded default. */
export function drillConfig(database: string, configPath: string | undefined, engineMajorVersion: number, sampleSmokeQuery: boolean): { config: PgdrConfig; db: DatabaseConfig; from: string } {
  const { config, path } = loadOptionalConfig(configPath);
  const index = config ? config.databases.findIndex((d) => d.name === database) : -1;
  if (config && index >= 0) return { config, db: config.databases[index], from: `${path} databases[${index}]` };
  try {
    assertName(database, 'database name');
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
  const embedded = parseConfig(
    {
      stackName: 'PgdrLocalDrill',
      databases: [
        {
          name: database,
          description: 'The local drill: an external PostgreSQL, daily dump, restore-tested.',
          source: { type: 'external', secretArn: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgdr/${database}-LoCaL1`, engineMajorVersion },
          rpo: '24h',
          rto: '1h',
          backupClasses: [{ name: 'daily', schedule: { expression: 'cron(0 3 * * ? *)' }, retention: { expireAfterDays: 30 } }],
          verification: { restoreTestEveryNth: 1, smokeQueries: sampleSmokeQuery ? [{ name: 'orders present', sql: 'SELECT 1 FROM orders LIMIT 1', minRows: 1 }] : [] },
          failover: { requireApproval: false },
        },
      ],
    },
    'the embedded drill configuration',
  );
  return { config: embedded, db: embedded.databases[0], from: 'the embedded default (rpo 24h, rto 1h)' };
}

class StepFailed extends Error {}

const seconds = (from: number, to = Date.now()) => Math.round((to - from) / 100) / 10;
const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0);

/** Runs the drill; never throws for a failed step (the report says it), only for bad usage before anything starts. */
export async function runLocalDrill(options: LocalDrillOptions): Promise<DrillReport> {
  const database = options.database ?? DEFAULT_DRILL_DATABASE;
  const steps: DrillStep[] = [];
  const failures: string[] = [];
  const progress = options.onProgress ?? (() => undefined);
  const signal = options.signal;
  const root = localRoot();
  const runName = `drill-${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}-`;
  let workDir: string | undefined;
  let cluster: PgCluster | undefined;
  let backend: LocalBackend | undefined;
  let config: { config: PgdrConfig; db: DatabaseConfig; from: string } | undefined;
  let manifest: BackupManifest | undefined;
  let executionId: string | undefined;
  let measured = { rpoSeconds: 0, rtoSeconds: 0 };
  let data: DrillReport['data'];
  // The configuration is read first: a bad one is a usage error before anything starts.
  if (options.sourceUrl) parseUrl(options.sourceUrl, '--source-url');

  /** Runs one step: its time, its one-line detail; an abort ends it at once (teardown follows). */
  const step = async (name: DrillStepName, work: () => Promise<string>): Promise<void> => {
    const started = Date.now();
    progress({ type: 'step-started', step: name, at: new Date(started) });
    let result: DrillStep;
    try {
      // Teardown always runs to its end; every other step stops at the abort.
      const abortable = signal && name !== 'teardown' ? signal : undefined;
      if (abortable?.aborted) throw abortable.reason;
      const running = work();
      running.catch(() => undefined);
      const detail = await (abortable ? Promise.race([running, aborted(abortable)]) : running);
      result = { name, ok: true, seconds: seconds(started), detail: options.redact(detail) };
    } catch (err) {
      const message = options.redact(err instanceof Error ? err.message : String(err));
      result = { name, ok: false, seconds: seconds(started), detail: message };
      failures.push(`${name}: ${message}`);
    }
    steps.push(result);
    progress({ type: 'step-ended', step: name, at: new Date(), result });
    if (!result.ok && name !== 'teardown') throw new StepFailed(result.detail);
  };

  try {
    await step('prepare-source', async () => {
      const root = join(localRoot(), 'work');
      mkdirSync(root, { recursive: true });
      workDir = mkdtempSync(join(root, runName));
      // Traversable by the postgres OS user, who runs the servers when pgdr runs as root.
      chmodSync(workDir, 0o755);
      let major: number;
      let sourceUrl = options.sourceUrl;
      let what: string;
      if (sourceUrl) {
        major = await serverMajor(sourceUrl);
        what = `source ${options.redact(sourceUrl)}`;
      } else {
        cluster = await PgCluster.start({ baseDir: workDir, pgBin: options.pgBin });
        await cluster.createDatabase(SOURCE_DATABASE);
        const sample = sampleData(options.rows ?? DEFAULT_SAMPLE_ROWS);
        await cluster.sql(SOURCE_DATABASE, sample.sql);
        sourceUrl = cluster.url(SOURCE_DATABASE);
        major = await serverMajor(sourceUrl);
        what = `sample source: ${Object.keys(sample.rows).length} tables, ${sum(Object.values(sample.rows))} rows on PostgreSQL ${major} (port ${cluster.port})`;
      }
      config = drillConfig(database, options.configPath, major, !options.sourceUrl);
      if (config.db.source.type === 'rds' && !cluster) {
        throw new CliError(`"${database}" is an RDS database in ${config.from}: with --source-url the local drill needs an external-source name (or drop --source-url for the sample source)`);
      }
      backend = await openLocalBackend({ config: config.config, sourceUrl, pgBin: options.pgBin, verbose: options.verbose, redact: options.redact, workDir });
      if (cluster) await backend.registerRdsSource(database, cluster);
      const started = Date.now();
      backend.synthesized();
      return `${what}; targets from ${config.from}; state machine synthesized in ${seconds(started)} s`;
    });

    await step('backup', async () => {
      manifest = await backend!.backup(database, undefined, signal);
      const rows = sum(Object.values(manifest.rowCounts));
      data = { tables: Object.keys(manifest.rowCounts).length, rows, recoveredRows: 0 };
      return `${manifest.dump.key} (${manifest.dump.bytes} bytes, ${data.tables} tables, ${rows} rows)`;
    });

    await step('verify', async () => {
      const record = await backend!.verify(database, manifest!.dump.key);
      if (!record.ok) {
        const smoke = record.failures.some((f) => f.startsWith('smoke query')) && cluster !== undefined && config!.db.verification.smokeQueries.length > 0;
        const hint = smoke ? ` (the smoke queries of ${config!.from} ran against the generated sample data: give --source-url to drill the real database)` : '';
        throw new Error(`verification failed: ${record.failures.join('; ')}${hint}`);
      }
      return `verified with a restore test in ${record.restoreTest?.totalSeconds ?? '?'} s`;
    });

    let validateSeconds = 0;
    let validateState: { ok: boolean; detail: string } | undefined;
    await step('failover', async () => {
      const run = await backend!.startFailover({ database, source: 'dump', backupKey: manifestKeyOf(manifest!.dump.key), mode: 'drill', approval: 'skip' });
      executionId = run.executionId;
      const outcome = await backend!.follow(run.executionId, (event) => progress({ type: 'workflow', event }), signal);
      const ended = outcome.stoppedAt.getTime();
      measured = { ...measured, rpoSeconds: Math.round((ended - new Date(manifest!.startedAt).getTime()) / 1000) };
      const validate = outcome.states.filter((s) => s.name === STATES.validate);
      validateSeconds = sum(validate.map((s) => s.seconds));
      const validation = backend!.validationOf(run.executionId);
      if (validation) {
        const recoveredRows = sum(validation.tables.map((t) => t.actual ?? 0));
        data = { ...(data ?? { tables: validation.tables.length, rows: 0 }), recoveredRows };
        measured = { ...measured, rtoSeconds: Math.round(validation.secondsSinceStart) };
        const rowsMatch = recoveredRows === data.rows;
        validateState = {
          ok: validation.ok && rowsMatch,
          detail: `${validation.ok ? 'validated' : `validation failed: ${validation.failures.join('; ')}`}; ${recoveredRows} of ${data.rows} rows recovered in ${validation.tables.length} tables${rowsMatch ? '' : ' (MISMATCH)'}`,
        };
      }
      if (outcome.status !== 'SUCCEEDED') {
        throw new Error(`execution ${run.executionId} ${outcome.status}: ${outcome.error ?? ''} ${outcome.cause ?? ''}`.trim());
      }
      const record = await backend!.recoveryRecord(database, run.executionId);
      const deleted = record?.cleanup?.deleted ?? outcome.states.some((s) => s.name === STATES.deleteDrill);
      const total = (outcome.stoppedAt.getTime() - outcome.startedAt.getTime()) / 1000;
      return `execution ${run.executionId}: ${outcome.states.length} states in ${total.toFixed(1)} s, drill instance ${deleted ? 'deleted' : 'NOT deleted'}, record ${record ? 'written' : 'missing'}`;
    });

    await step('validate', async () => {
      if (!validateState) throw new Error('the workflow did not validate the new instance');
      if (!validateState.ok) throw new Error(validateState.detail);
      return validateState.detail;
    });
    // The Validate state's own time (it ran inside the failover step).
    const last = steps[steps.length - 1];
    steps[steps.length - 1] = { ...last, seconds: Math.round(validateSeconds * 10) / 10 };
  } catch (err) {
    if (!(err instanceof StepFailed)) throw err;
  } finally {
    await step('teardown', async () => {
      const problems: string[] = [];
      const pids = [cluster?.pid, ...(backend?.clusterPids() ?? [])].filter((p): p is number => p !== undefined);
      await backend?.close().catch((err: Error) => problems.push(`local backend: ${err.message}`));
      await cluster?.stop().catch((err: Error) => problems.push(`source cluster: ${err.message}`));
      if (workDir) {
        rmSync(workDir, { recursive: true, force: true });
        // .pgdr/work itself, when nothing else is in it.
        try {
          rmdirSync(dirname(workDir));
        } catch {
          // not empty: another run's files
        }
      }
      const alive = pids.filter(isAlive);
      if (alive.length > 0) problems.push(`processes still running: ${alive.join(', ')}`);
      if (problems.length > 0) throw new Error(problems.join('; '));
      return `${pids.length} PostgreSQL server(s) stopped, ${workDir ?? root} removed`;
    });
  }

  const targets = { rpoSeconds: config?.db.rpo.seconds ?? 0, rtoSeconds: config?.db.rto.seconds ?? 0 };
  const completed = steps.length === DRILL_STEPS.length && steps.every((s) => s.ok);
  if (completed) {
    if (measured.rpoSeconds > targets.rpoSeconds) failures.push(`measured RPO ${measured.rpoSeconds} s exceeds the target ${targets.rpoSeconds} s`);
    if (measured.rtoSeconds > targets.rtoSeconds) failures.push(`measured RTO ${measured.rtoSeconds} s exceeds the target ${targets.rtoSeconds} s`);
  }
  return { ok: completed && failures.length === 0, database, source: 'dump', measured, targets, steps, data, failures, executionId };
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/** The source's major version (one clear line when it cannot be reached: the shared pg client's errors). */
async function serverMajor(url: string): Promise<number> {
  const client = await connectClient(parseUrl(url, '--source-url'));
  try {
    return Math.floor((await serverVersionNum(client)) / 10000);
  } finally {
    await client.end().catch(() => undefined);
  }
}
