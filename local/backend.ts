/**
 * The local backend (`--local`): the same jobs as the deployed stack, on this machine.
 *
 * - backup / verify: the dump and verify cores of the Lambdas (lambda/dump/core.ts,
 *   lambda/verify/core.ts) against the in-process S3 server over `.pgdr/s3` (cli/local.ts).
 * - startFailover / follow: the failover state machine SYNTHESIZED from the configuration
 *   (lib/synthesize.ts), run by aws-local-stepfunctions (local/failover-runner.ts) with the REAL
 *   handlers of the preflight, restore, validate, cutover and report functions; RDS is the RDS
 *   simulator (local/rds-simulator.ts) whose instances are real PostgreSQL clusters under
 *   `.pgdr/work/rds`; the recovery record lands in the local vault.
 * - Cutover targets (Secrets Manager, SSM, Route 53) are the in-memory stand-ins of
 *   local/aws-targets.ts, seeded per run with a placeholder for each target the configuration
 *   names (they live as long as the process: a local failover never touches real targets).
 * - Approvals: a run that needs one writes `.pgdr/approvals/<execution>.json` (the request) and
 *   waits (fs.watch) for `<execution>.answer.json`, which {@link LocalBackend.answerApproval}
 *   (`pgdr approve|reject --local`, from any process) writes.
 *
 * `.pgdr` is PGDR_LOCAL_DIR when set. `close()` stops everything this backend started (the S3
 * server, the simulator and its clusters, by PID), also after a failure or an abort.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, watch, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { PgdrConfig, DatabaseConfig } from '../lib/config';
import { synthesize, Synthesis, failoverDefinition } from '../lib/synthesize';
import type { FailoverInput, RecoveryRecord, ValidationResult } from '../lambda/failover/contract';
import type { ConnectionInfo } from '../lambda/shared/connection';
import { systemClock } from '../lambda/shared/ports';
import { localRestoreJobs, memoryBackedDir } from '../lambda/shared/restore-mode';
import type { SecretReader } from '../lambda/shared/ports';
import type { BackupManifest, VerificationRecord } from '../lambda/shared/records';
import { makeHandler as makePreflight } from '../lambda/failover/preflight/handler';
import { rdsReader } from '../lambda/failover/preflight/rds';
import { makeHandler as makeCutover } from '../lambda/failover/cutover/handler';
import { httpsProbe } from '../lambda/failover/cutover/aws';
import { makeHandler as makeReport } from '../lambda/failover/report/handler';
import { makeHandler as makeRestore } from '../lambda/restore/handler';
import { makeHandler as makeValidate } from '../lambda/failover/validate/handler';
import type { ApprovalAnswer, Backend, DatabaseStatus, FailoverOutcome, FailoverRun, WorkflowEvent } from '../cli/contract';
import { EXIT } from '../cli/contract';
import { CliError } from '../cli/errors';
import { LocalEnv, localBackup, localJobSettings, localRoot, localVerify, openLocalEnv } from '../cli/local';
import { parseConnection } from '../cli/shared';
import { readDatabaseStatus } from '../cli/status';
import { configuredDatabase } from '../cli/resolve';
import { MemoryParameters, MemoryRoute53, MemorySecrets } from './aws-targets';
import { ApprovalRequest, ApprovalVerdict, FailoverRunner, functionArn, LocalContainerTask, localJobContainer, LocalHandler, logicalIdOf, LOCAL_TOKENS, RunResult, taskDefinitionArn } from './failover-runner';
import { PgCluster, serverBin } from './pg-cluster';
import { RdsSimulator } from './rds-simulator';

export interface LocalBackendOptions {
  readonly config: PgdrConfig;
  /** The source database (backup; the source login the failover handlers read). */
  readonly sourceUrl?: string;
  /** The server for verification's scratch database. @default sourceUrl */
  readonly verifyUrl?: string;
  /** Directory of the PostgreSQL tools. @default findPgBin (cli/local.ts) */
  readonly pgBin?: string;
  readonly verbose?: boolean;
  readonly redact: (text: string) => string;
  /** Where the simulated instances' clusters and the restore job's files go (removed by close() only if the caller says so). @default `.pgdr/work` */
  readonly workDir?: string;
}

/** The local execution's files: the approval request and its answer. */
export function approvalPaths(root: string, executionId: string): { request: string; answer: string; dir: string } {
  const dir = join(root, 'approvals');
  return { dir, request: join(dir, `${executionId}.json`), answer: join(dir, `${executionId}.answer.json`) };
}

interface LocalRun {
  readonly executionId: string;
  readonly startedAt: Date;
  readonly events: WorkflowEvent[];
  readonly listeners: Set<(event: WorkflowEvent) => void>;
  result: Promise<RunResult>;
  /** The Validate handler's last result (rows recovered per table). */
  validation?: ValidationResult;
}

const TASK_ERROR_CAUSE = /^[\s\S]{0,2000}/;

/** Opens the local backend (starts the local S3 server over `.pgdr/s3`). */
export async function openLocalBackend(options: LocalBackendOptions): Promise<LocalBackend> {
  // Parsed once, before anything starts: a malformed URL fails here.
  const connections = { source: parseConnection(options.sourceUrl, '--source-url'), verify: parseConnection(options.verifyUrl, '--verify-url') };
  const env = await openLocalEnv({ pgBin: options.pgBin, verbose: options.verbose, redact: options.redact });
  return new LocalBackend(options, env, connections);
}

export class LocalBackend implements Backend {
  readonly kind = 'local' as const;
  /** `.pgdr` (or PGDR_LOCAL_DIR). */
  readonly root = localRoot();
  private synthesis?: Synthesis;
  private sim?: RdsSimulator;
  private readonly runs = new Map<string, LocalRun>();
  private readonly aborter = new AbortController();
  private readonly cleanups: Array<() => void> = [];
  /** Where the simulated instances and restore files live. */
  readonly workDir: string;
  /** The source (--source-url, or PGSERVICE) and the restore test's server (--verify-url). */
  private readonly sourceConnection?: ConnectionInfo;
  private readonly verifyConnection?: ConnectionInfo;

  constructor(
    private readonly options: LocalBackendOptions,
    readonly env: LocalEnv,
    connections: { readonly source?: ConnectionInfo; readonly verify?: ConnectionInfo },
  ) {
    this.workDir = options.workDir ?? join(this.root, 'work');
    this.sourceConnection = connections.source;
    this.verifyConnection = connections.verify;
  }

  /** The configured database `name`, or a CliError naming those configured. */
  database(name: string): DatabaseConfig {
    return configuredDatabase(this.options.config, name);
  }

  private source(): ConnectionInfo {
    if (!this.sourceConnection) throw new CliError('the local backend needs a source URL (--source-url, or PGSERVICE) for this command', EXIT.usage);
    return this.sourceConnection;
  }

  async status(database?: string): Promise<DatabaseStatus[]> {
    const dbs = database ? [this.database(database)] : this.options.config.databases;
    const now = systemClock.now();
    return Promise.all(dbs.map(async (db) => ({ ...(await readDatabaseStatus(this.env.store, db, now)), alarmsInAlarm: [], alarmsKnown: false })));
  }

  async backup(database: string, backupClass?: string, signal?: AbortSignal): Promise<BackupManifest> {
    const db = this.database(database);
    const cls = backupClass ?? db.backupClasses[0]?.name ?? 'manual';
    return localBackup(this.env, { database: db.name, backupClass: cls, connection: this.source(), signal, settings: localJobSettings(db) });
  }

  async verify(database: string, key?: string): Promise<VerificationRecord> {
    const db = this.database(database);
    const connection = this.verifyConnection ?? this.sourceConnection;
    const settings = localJobSettings(db);
    if (!connection && settings.verifyMode !== 'ephemeral') throw new CliError('the local backend needs --verify-url or --source-url (or PGSERVICE) to verify: the server of the restore test', EXIT.usage);
    return localVerify(this.env, { database: db.name, connection, kind: this.verifyConnection ? 'verify' : 'source', smokeQueries: db.verification.smokeQueries, key, settings });
  }

  /**
   * Registers a running cluster as the RDS source instance of an `rds` database (its
   * `instanceIdentifier`), so pitr/snapshot recoveries copy it and a dump recovery reads its
   * settings. The cluster stays the caller's: the simulator never stops it.
   */
  async registerRdsSource(database: string, cluster: PgCluster): Promise<void> {
    const db = this.database(database);
    if (db.source.type !== 'rds') return;
    const sim = await this.simulator();
    await sim.registerSource(db.source.instanceIdentifier, cluster, { earliestRestorableTime: new Date(Date.now() - 86_400_000) });
  }

  /** The simulator (started on first use; its clusters live under `.pgdr/work/rds`). */
  async simulator(): Promise<RdsSimulator> {
    this.sim ??= await RdsSimulator.start({ clusterDir: join(this.workDir, 'rds'), pgBin: serverBin(this.options.pgBin) });
    return this.sim;
  }

  /** Synthesizes the stack of the configuration (once; seconds of CPU): the failover definition and the functions' ARNs. */
  synthesized(): Synthesis {
    this.synthesis ??= synthesize(this.options.config);
    return this.synthesis;
  }

  async startFailover(input: FailoverInput): Promise<FailoverRun> {
    const db = this.database(input.database);
    const sim = await this.simulator();
    const { template } = this.synthesized();
    const executionId = `local-${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}-${Math.random().toString(36).slice(2, 6)}`;
    const run: LocalRun = { executionId, startedAt: new Date(), events: [], listeners: new Set(), result: Promise.resolve(undefined as never) };
    const tasks: Record<string, LocalContainerTask> = {};
    const runner = new FailoverRunner(failoverDefinition(template, LOCAL_TOKENS), sim, this.handlers(run, tasks, await memoryBackedDir()), { tasks, store: this.env.store });
    const emit = (event: WorkflowEvent) => {
      run.events.push(event);
      for (const listener of run.listeners) listener(event);
    };
    const result = runner
      .run(input, { executionName: executionId, now: run.startedAt, onEvent: emit, approver: (request) => this.awaitApproval(request), signal: this.aborter.signal })
      .then((r) => {
        emit(r.status === 'SUCCEEDED' ? { type: 'succeeded', at: new Date() } : { type: 'failed', at: new Date(), error: r.error, detail: r.cause });
        return r;
      });
    result.catch(() => undefined);
    run.result = result;
    this.runs.set(executionId, run);
    return { executionId, where: `local execution ${executionId}; recovery record under ${db.name}/recoveries/ in ${this.env.directory}; approvals in ${approvalPaths(this.root, executionId).dir}` };
  }

  /** The Validate handler's result of a run (rows per table on the new instance), once it ran. */
  validationOf(executionId: string): ValidationResult | undefined {
    return this.runs.get(executionId)?.validation;
  }

  async follow(executionId: string, onEvent: (event: WorkflowEvent) => void, signal?: AbortSignal): Promise<FailoverOutcome> {
    const run = this.runs.get(executionId);
    if (!run) throw new CliError(`no local execution ${executionId} in this process: a local run is followed by the command that started it`, EXIT.usage);
    for (const event of run.events) onEvent(event);
    run.listeners.add(onEvent);
    const stop = () => this.aborter.abort(signal?.reason);
    signal?.addEventListener('abort', stop, { once: true });
    try {
      const result = await run.result;
      return outcomeOf(run, result);
    } finally {
      run.listeners.delete(onEvent);
      signal?.removeEventListener('abort', stop);
    }
  }

  async answerApproval(executionId: string, answer: ApprovalAnswer): Promise<void> {
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$/.test(executionId)) throw new CliError(`"${executionId}" is not a local execution name (letters, digits, - and _)`, EXIT.usage);
    const paths = approvalPaths(this.root, executionId);
    if (!existsSync(paths.request)) throw new CliError(`no pending local approval for ${executionId} (no ${paths.request})`, EXIT.usage);
    if (existsSync(paths.answer)) throw new CliError(`${executionId} was already answered (${paths.answer})`, EXIT.usage);
    // Written under another name, then renamed: the waiting run never reads half a file.
    const partial = `${paths.answer}.partial`;
    writeFileSync(partial, JSON.stringify({ approve: answer.approve, comment: answer.comment ?? null, answeredAt: new Date().toISOString() }));
    renameSync(partial, paths.answer);
  }

  /** The run's approval: writes the request file and waits for the answer file (fs.watch), or the abort. */
  private awaitApproval(request: ApprovalRequest): Promise<ApprovalVerdict> {
    const paths = approvalPaths(this.root, request.executionName);
    mkdirSync(paths.dir, { recursive: true });
    const signal = this.aborter.signal;
    return new Promise<ApprovalVerdict>((resolve, reject) => {
      let done = false;
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        watcher.close();
        signal.removeEventListener('abort', onAbort);
        fn();
      };
      const check = () => {
        if (!existsSync(paths.answer)) return;
        try {
          const answer = JSON.parse(readFileSync(paths.answer, 'utf8')) as { approve?: unknown };
          finish(() => resolve(answer.approve === true ? 'approve' : 'reject'));
        } catch (err) {
          finish(() => reject(err));
        }
      };
      const onAbort = () => finish(() => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted')));
      const watcher = watch(paths.dir, () => check());
      signal.addEventListener('abort', onAbort, { once: true });
      writeFileSync(
        paths.request,
        JSON.stringify(
          {
            executionId: request.executionName,
            state: request.state,
            subject: request.subject,
            message: request.message,
            requestedAt: new Date().toISOString(),
            approve: `pgdr approve ${request.executionName} --local`,
            reject: `pgdr reject ${request.executionName} --local`,
          },
          null,
          2,
        ),
      );
      check(); // answered before the watcher saw it
    });
  }

  /**
   * The real handlers of the stack's functions, wired to the local adapters; the restore tasks of
   * databases on the Fargate runner go into `tasks` (the container entry point's stand-in).
   */
  private handlers(run: LocalRun, tasks: Record<string, LocalContainerTask>, memoryDir: string | undefined): Record<string, LocalHandler> {
    const { stack } = this.synthesis!;
    const sim = this.sim!;
    const store = this.env.store;
    const arn = (fn: Parameters<typeof logicalIdOf>[1]) => functionArn(logicalIdOf(stack, fn));
    const targets = seededTargets(this.options.config);
    const sourceSecret = () => {
      const c = this.source();
      return { host: c.host, port: c.port, dbname: c.dbname, username: c.username, password: c.password };
    };
    const sourceArns = new Set(this.options.config.databases.map((d) => d.source.secretArn));
    const secrets: SecretReader = {
      json: async (secretArn: string) => {
        if (sourceArns.has(secretArn)) return sourceSecret();
        if (secretArn.includes(':secret:rds!')) return { ...sim.masterSecret(secretArn) };
        const value = targets.secrets.valueOf(secretArn);
        if (value === undefined) throw new Error(`ResourceNotFoundException: no local secret ${secretArn}`);
        return JSON.parse(value) as Record<string, unknown>;
      },
    };
    mkdirSync(this.workDir, { recursive: true });
    const restoreDir = mkdtempSync(join(this.workDir, 'restore-'));
    this.cleanups.push(() => rmSync(restoreDir, { recursive: true, force: true }));
    const discard = new Writable({ write: (_c, _e, cb) => cb() });
    const validate = makeValidate({ store, secrets, tls: {}, clock: systemClock, log: this.env.log });
    const handlers: Record<string, LocalHandler> = {
      [arn(stack.failover.preflight.function)]: makePreflight({ store, rds: rdsReader(sim.client()), clock: systemClock, log: this.env.log }) as LocalHandler,
      [arn(stack.failover.cutover.function)]: makeCutover({ ...targets, probe: httpsProbe(), clock: systemClock, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) }) as LocalHandler,
      [arn(stack.failover.report.function)]: makeReport({ store, clock: systemClock, metricsOut: this.options.verbose ? process.stderr : discard }) as LocalHandler,
    };
    // The simulator's instances are PostgreSQL clusters on this machine: its cores, not the
    // configured instance class's vCPUs, and the archive in memory when it fits (shared/restore-mode.ts,
    // as for pgdr verify --local).
    const restore = makeRestore({ store, secrets, tls: {}, pgBin: this.env.pgBin, workDir: restoreDir, memoryDir, jobs: localRestoreJobs(), log: this.env.log, clock: systemClock }) as LocalHandler;
    const validated = (async (event: never) => {
      run.validation = await validate(event);
      return run.validation;
    }) as LocalHandler;
    for (const jobs of stack.jobs.values()) {
      handlers[arn(jobs.recovery.restore!.function)] = restore;
      handlers[arn(jobs.recovery.validate.function)] = validated;
    }
    for (const jobs of stack.fargateJobs.values()) {
      tasks[taskDefinitionArn(logicalIdOf(stack, jobs.fargate.restore.taskDefinition))] = localJobContainer(restore, store);
      handlers[arn(jobs.recovery.validate.function)] = validated;
    }
    return handlers;
  }

  /** PIDs of the PostgreSQL servers the simulator runs now (for a check that nothing is left). */
  clusterPids(): number[] {
    return this.sim?.clusterPids() ?? [];
  }

  /** The recovery record of a local run, once its report wrote it. */
  async recoveryRecord(database: string, executionId: string): Promise<RecoveryRecord | undefined> {
    const keys = (await this.env.store.listKeys(`${database}/recoveries/`)).filter((k) => k.endsWith(`/${executionId}.json`));
    if (keys.length === 0) return undefined;
    const stored = await this.env.store.getText(keys[0]);
    return stored ? (JSON.parse(stored.text) as RecoveryRecord) : undefined;
  }

  async close(): Promise<void> {
    this.aborter.abort(new Error('the local backend is closing'));
    await Promise.allSettled([...this.runs.values()].map((r) => r.result));
    const errors: unknown[] = [];
    const attempt = async (fn: () => unknown) => {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    };
    if (this.sim) await attempt(() => this.sim!.stop());
    // The simulator's directory, and the work directory, once empty: nothing of this run stays behind.
    for (const dir of [join(this.workDir, 'rds'), this.workDir]) {
      try {
        rmdirSync(dir);
      } catch {
        // not empty (another run's clusters) or already gone
      }
    }
    for (const cleanup of this.cleanups.splice(0)) await attempt(cleanup);
    await attempt(() => this.env.close());
    if (errors.length > 0) throw errors[0];
  }
}

/** Cutover stand-ins with a placeholder for every target the configuration names (so the check passes; a drill never switches them). */
function seededTargets(config: PgdrConfig): { secrets: MemorySecrets; parameters: MemoryParameters; dns: MemoryRoute53 } {
  const secrets = new MemorySecrets();
  const parameters = new MemoryParameters();
  const dns = new MemoryRoute53();
  for (const db of config.databases) {
    const cutover = db.failover.cutover;
    const placeholder = { engine: 'postgres', host: 'old-db.local', port: 5432, dbname: 'postgres', username: `pgdr_local_${db.name.replace(/-/g, '_')}`, password: `local-${Math.random().toString(36).slice(2)}` };
    if (cutover.secretArn && secrets.valueOf(cutover.secretArn) === undefined) secrets.create(cutover.secretArn, JSON.stringify(placeholder));
    if (cutover.ssmParameterName) parameters.create(cutover.ssmParameterName, 'postgresql://old-db.local:5432/postgres');
    if (cutover.route53 && !dns.zones.has(cutover.route53.hostedZoneId)) {
      dns.createZone(cutover.route53.hostedZoneId, cutover.route53.recordName.split('.').slice(1).join('.') || 'local');
    }
  }
  return { secrets, parameters, dns };
}

function outcomeOf(run: LocalRun, result: RunResult): FailoverOutcome {
  const stoppedAt = new Date();
  const entered = run.events.filter((e) => e.type === 'state-entered');
  const states = entered.map((e, i) => {
    const exited = run.events.find((x, j) => j > run.events.indexOf(e) && x.type === 'state-exited' && x.state === e.state);
    const end = exited?.at ?? entered[i + 1]?.at ?? stoppedAt;
    return { name: e.state!, enteredAt: e.at, seconds: (end.getTime() - e.at.getTime()) / 1000 };
  });
  const cause = result.cause?.match(TASK_ERROR_CAUSE)?.[0];
  return {
    status: result.status === 'SUCCEEDED' ? 'SUCCEEDED' : result.status === 'ABORTED' ? 'ABORTED' : 'FAILED',
    output: result.output,
    error: result.error,
    cause,
    startedAt: run.startedAt,
    stoppedAt,
    states,
  };
}
