/**
 * One world for the end-to-end failover tests: a real source PostgreSQL cluster registered in the
 * RDS simulator (with an automated snapshot), real backups of it dumped and verified into the local
 * S3 server for two pgdr databases (`clinic`: an RDS source with PITR; `shop`: an external source,
 * dump only), a configuration with every cutover target and a health check on a local HTTPS server,
 * the app synthesized once, and the REAL handlers of the five failover Lambdas wired to local
 * adapters: S3 (s3rver), RDS (the simulator), Secrets Manager / SSM / Route 53 (stand-ins that follow
 * the APIs' semantics, test/support/aws-targets.ts), the health endpoint (real HTTPS).
 *
 * `fargateRestore` names databases whose restore runs as an ECS task on Fargate: the world then adds
 * a cluster, a task definition and a second FailoverWorkflow (`FargateFailover`, the same settings,
 * those databases with `restoreTask`) to the stack, runs THAT state machine, and stands in for the
 * task's container with the real restore handler behind the container contract.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { CONTAINER_NAME, IMAGE_PATHS } from '../../container/contract';
import { FailoverWorkflow } from '../../lib/failover-workflow';
import type { PgdrStack } from '../../lib/pgdr-stack';
import { recoverySettings } from '../../lib/recovery-settings';
import { parseConfig, PgdrConfig } from '../../lib/config';
import type { RecoveryRecord } from '../../lambda/failover/contract';
import { S3ObjectStore } from '../../lambda/shared/s3-store';
import { silentLog, systemClock } from '../../lambda/shared/ports';
import type { SecretReader } from '../../lambda/shared/ports';
import { makeHandler as makePreflight } from '../../lambda/failover/preflight/handler';
import { rdsReader } from '../../lambda/failover/preflight/rds';
import { makeHandler as makeCutover } from '../../lambda/failover/cutover/handler';
import { httpsProbe } from '../../lambda/failover/cutover/aws';
import { makeHandler as makeReport } from '../../lambda/failover/report/handler';
import { makeHandler as makeRestore } from '../../lambda/restore/handler';
import { makeHandler as makeValidate } from '../../lambda/failover/validate/handler';
import { synthConfig, Synthesized } from '../infra/synth';
import { MemoryParameters, MemoryRoute53, MemorySecrets } from '../../local/aws-targets';
import { failoverDefinition, FailoverRunner, functionArn, LocalContainerTask, localJobContainer, LocalHandler, logicalIdOf, taskDefinitionArn } from '../../local/failover-runner';
import { RICH_SCHEMA } from './fixtures';
import { harness } from './harness';
import { PgCluster, PG_BIN } from '../../local/pg-cluster';
import { RdsSimulator } from '../../local/rds-simulator';
import { startTestS3, TestS3 } from './s3-server';
import { TestPki } from './test-pki';

export const SOURCE_INSTANCE = 'clinic-prod';
export const SNAPSHOT = 'rds:clinic-prod-2026-11-25-03-05';
export const CLINIC_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgdr/clinic-AbCdEf';
export const SHOP_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgdr/shop-AbCdEf';
export const APP_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:clinic/app-AbCdEf';
export const SHOP_APP_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/app-AbCdEf';
export const SSM_PARAMETER = '/clinic/database-url';
export const ZONE = 'Z0123456789ABC';
export const RECORD = 'db.clinic.example.com';
export const APP_PASSWORD = "app-Pw-'quoted' \"ü\" 7f3a";

/** The source database: the rich schema, an application login that owns a table, fresh events, a table to lose rows from. */
const SOURCE_SCHEMA = `
${RICH_SCHEMA}
CREATE ROLE app_user LOGIN PASSWORD 'old-app-password';
GRANT USAGE ON SCHEMA app TO app_user;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA app TO app_user;
CREATE TABLE app.events (id serial PRIMARY KEY, created_at timestamptz NOT NULL);
ALTER TABLE app.events OWNER TO app_user;
INSERT INTO app.events (created_at) SELECT now() - i * interval '1 minute' FROM generate_series(1, 30) i;
CREATE TABLE app.audit (id int PRIMARY KEY, note text);
INSERT INTO app.audit SELECT i, 'entry ' || i FROM generate_series(1, 200) i;
`;

export interface WorldOptions {
  /** Databases whose restore runs as an ECS task on Fargate (see above). @default none: the stack's own workflow */
  readonly fargateRestore?: string[];
}

/** The Fargate restore runner the world adds to the stack. */
export interface FargateRestore {
  readonly workflow: FailoverWorkflow;
  readonly cluster: ecs.Cluster;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly securityGroup: ec2.SecurityGroup;
  /** Errors the restore container exited with, in order. */
  readonly containerErrors: unknown[];
}

/** Adds a cluster, a restore task definition and a workflow whose `databases` restore on Fargate (what lib/pgdr-stack.ts composes for `runner: fargate`). */
function addFargateFailover(stack: PgdrStack, config: PgdrConfig, databases: string[]): Omit<FargateRestore, 'containerErrors'> {
  const vpc = stack.network.vpc;
  const cluster = new ecs.Cluster(stack, 'TestJobCluster', { vpc });
  const taskDefinition = new ecs.FargateTaskDefinition(stack, 'TestRestoreTask', { cpu: 1024, memoryLimitMiB: 2048, ephemeralStorageGiB: 50 });
  taskDefinition.addContainer(CONTAINER_NAME, { image: ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/node:22-slim'), command: ['node', IMAGE_PATHS.entry, 'restore'], logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'restore' }) });
  const securityGroup = new ec2.SecurityGroup(stack, 'TestRestoreTaskSecurityGroup', { vpc, description: 'pgdr restore task (test)' });
  const workflow = new FailoverWorkflow(stack, 'FargateFailover', {
    vault: stack.vault,
    topics: stack.topics,
    databases: config.databases.map((db) => {
      const recovery = stack.jobs.get(db.name)!.recovery;
      const onFargate = databases.includes(db.name);
      return {
        settings: recoverySettings(db),
        validate: recovery.validate.function,
        ...(onFargate ? { restoreTask: { cluster, taskDefinition, securityGroups: [securityGroup], subnets: stack.network.subnets } } : { restore: recovery.restore!.function }),
      };
    }),
  });
  return { workflow, cluster, taskDefinition, securityGroup };
}

export interface World {
  readonly config: PgdrConfig;
  /** The synthesized app (one synthesis per world). */
  readonly synth: Synthesized;
  /** The workflow the runner runs. */
  readonly workflow: FailoverWorkflow;
  /** Set with `fargateRestore`. */
  readonly fargate?: FargateRestore;
  readonly runner: FailoverRunner;
  readonly sim: RdsSimulator;
  readonly s3: TestS3;
  readonly source: PgCluster;
  readonly secrets: MemorySecrets;
  readonly parameters: MemoryParameters;
  readonly dns: MemoryRoute53;
  /** Status codes the health endpoint answers, in order (the last one repeats). */
  readonly health: number[];
  /** EMF lines the report handler wrote. */
  readonly metrics: Array<Record<string, unknown>>;
  /** Objects under a prefix in the bucket. */
  keys(prefix: string): Promise<string[]>;
  /** The one recovery record an execution of the database left (throws unless there is exactly one). */
  recoveryRecord(database: string, executionName: string): Promise<RecoveryRecord>;
  store(): S3ObjectStore;
  stop(): Promise<void>;
}

export async function startWorld(options: WorldOptions = {}): Promise<World> {
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  const stop = async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  };
  try {
    const s3 = await startTestS3();
    cleanups.push(() => s3.stop());
    const source = await PgCluster.start();
    cleanups.push(() => source.stop());
    await source.createDatabase('clinicdb');
    await source.sql('clinicdb', SOURCE_SCHEMA);
    // Real backups: pgdr database `clinic` (RDS) and `shop` (external), both from the same source database.
    for (const database of ['clinic', 'shop']) {
      const h = harness(source, s3, database, 'clinicdb', { restoreTestEveryNth: 1, smokeQueries: [] });
      const manifest = await h.dump();
      const record = await h.verify({ manifestKey: manifest.dump.key.replace(/\.dump$/, '.manifest.json') });
      if (!record.ok) throw new Error(`the ${database} backup did not verify: ${record.failures.join('; ')}`);
    }

    const sim = await RdsSimulator.start();
    cleanups.push(() => sim.stop());
    // RDS reports no earliest restorable time; Preflight estimates it from the backup retention (7 days in the simulator).
    await sim.registerSource(SOURCE_INSTANCE, source, { earliestRestorableTime: new Date(Date.now() - 7 * 86_400_000) });
    sim.addSnapshot(SOURCE_INSTANCE, SNAPSHOT, 'automated', new Date(Date.now() - 3600_000));

    // Health endpoint: real HTTPS with a test CA.
    const pki = new TestPki();
    cleanups.push(() => pki.remove());
    const ca = readFileSync(pki.ca('ca'), 'utf8');
    const cert = pki.server('health', 'ca', 'IP:127.0.0.1');
    const health: number[] = [];
    const server: Server = createServer({ cert: cert.cert, key: cert.key }, (_req, res) => {
      const status = health.length > 1 ? health.shift()! : (health[0] ?? 200);
      res.writeHead(status, { connection: 'close' });
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const healthUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}/health`;

    const major = Number((await source.sql<{ v: string }>('postgres', "SELECT current_setting('server_version_num') AS v"))[0].v.slice(0, 2));
    const config = parseConfig({
      stackName: 'PgdrE2e',
      databases: [
        {
          name: 'clinic',
          source: { type: 'rds', instanceIdentifier: SOURCE_INSTANCE, secretArn: CLINIC_SECRET, engineMajorVersion: major, tls: { mode: 'require' } },
          rpo: '1h',
          rto: '1h',
          backupClasses: [{ name: 'hourly', schedule: { expression: 'cron(5 * * * ? *)' }, retention: { expireAfterDays: 7 } }],
          verification: { smokeQueries: [{ name: 'users present', sql: 'SELECT 1 FROM app."User" LIMIT 1' }] },
          failover: {
            requireApproval: false,
            cutover: { secretArn: APP_SECRET, ssmParameterName: SSM_PARAMETER, route53: { hostedZoneId: ZONE, recordName: RECORD } },
            healthCheck: { url: healthUrl, timeout: '2m' },
            validation: { freshnessQueries: [{ name: 'newest event', sql: 'SELECT max(created_at) FROM app.events' }] },
          },
        },
        {
          name: 'shop',
          source: { type: 'external', secretArn: SHOP_SECRET, engineMajorVersion: major, tls: { mode: 'require' } },
          rpo: '24h',
          rto: '2h',
          backupClasses: [{ name: 'daily', schedule: { expression: 'cron(0 3 * * ? *)' }, retention: { expireAfterDays: 30 } }],
          failover: { requireApproval: true, cutover: { secretArn: SHOP_APP_SECRET } },
        },
      ],
    });
    let added: Omit<FargateRestore, 'containerErrors'> | undefined;
    const fargateRestore = options.fargateRestore;
    const synth = synthConfig(config, fargateRestore ? (stack) => (added = addFargateFailover(stack, config, fargateRestore)) : undefined);
    const fargate: FargateRestore | undefined = added && { ...added, containerErrors: [] };
    const workflow = fargate?.workflow ?? synth.stack.failover;
    const definition = failoverDefinition(synth.template, logicalIdOf(synth.stack, workflow.stateMachine));

    // The application's secrets, SSM parameter and DNS record, as they are before any failover.
    const secrets = new MemorySecrets();
    const appSecret = (dbname: string) => JSON.stringify({ engine: 'postgres', host: 'old-db.internal', port: 5432, dbname, username: 'app_user', password: APP_PASSWORD });
    secrets.create(APP_SECRET, appSecret('clinicdb'));
    secrets.create(SHOP_APP_SECRET, appSecret('clinicdb'));
    const parameters = new MemoryParameters();
    parameters.create(SSM_PARAMETER, 'postgresql://app_user@old-db.internal:5432/clinicdb?sslmode=require');
    const dns = new MemoryRoute53();
    dns.createZone(ZONE, 'clinic.example.com');

    // What the Lambdas read from Secrets Manager: the source logins, the managed master secrets (simulator), the app secrets.
    const sourceSecret = JSON.stringify(source.secret('clinicdb'));
    const reader: SecretReader = {
      json: async (arn: string) => {
        if (arn === CLINIC_SECRET || arn === SHOP_SECRET) return JSON.parse(sourceSecret) as Record<string, unknown>;
        if (arn.includes(':secret:rds!')) return { ...sim.masterSecret(arn) };
        const value = secrets.valueOf(arn);
        if (value === undefined) throw new Error(`ResourceNotFoundException: no secret ${arn}`);
        return JSON.parse(value) as Record<string, unknown>;
      },
    };
    const store = new S3ObjectStore(s3.client, s3.bucket);
    const workDir = mkdtempSync(join(tmpdir(), 'pgdr-e2e-restore-'));
    cleanups.push(() => rmSync(workDir, { recursive: true, force: true }));
    const metrics: Array<Record<string, unknown>> = [];
    const metricsOut = new Writable({
      write: (chunk, _enc, cb) => {
        for (const line of chunk.toString().split('\n').filter(Boolean)) metrics.push(JSON.parse(line));
        cb();
      },
    });
    // The cutover function's clock runs ahead by what it slept: a health check's timeout passes without waiting.
    let slept = 0;
    const { stack } = synth;
    const arn = (fn: Parameters<typeof logicalIdOf>[1]) => functionArn(logicalIdOf(stack, fn));
    const handlers: Record<string, LocalHandler> = {
      [arn(workflow.preflight.function)]: makePreflight({ store, rds: rdsReader(sim.client()), clock: systemClock }) as LocalHandler,
      [arn(workflow.cutover.function)]: makeCutover({
        secrets,
        parameters,
        dns,
        probe: httpsProbe({ ca }),
        clock: { now: () => new Date(Date.now() + slept) },
        sleep: async (ms: number) => {
          slept += ms;
        },
      }) as LocalHandler,
      [arn(workflow.report.function)]: makeReport({ store, clock: systemClock, metricsOut }) as LocalHandler,
    };
    const restore = makeRestore({ store, secrets: reader, tls: {}, pgBin: PG_BIN, workDir, jobs: 2, log: silentLog, clock: systemClock }) as LocalHandler;
    for (const jobs of stack.jobs.values()) {
      handlers[arn(jobs.recovery.restore!.function)] = restore;
      handlers[arn(jobs.recovery.validate.function)] = makeValidate({ store, secrets: reader, tls: {}, clock: systemClock, log: silentLog }) as LocalHandler;
    }
    const tasks: Record<string, LocalContainerTask> = {};
    if (fargate) tasks[taskDefinitionArn(logicalIdOf(stack, fargate.taskDefinition))] = localJobContainer(restore, store, (err) => fargate.containerErrors.push(err));
    const runner = new FailoverRunner(definition, sim, handlers, { tasks, store });
    return {
      config,
      synth,
      workflow,
      fargate,
      runner,
      sim,
      s3,
      source,
      secrets,
      parameters,
      dns,
      health,
      metrics,
      keys: (prefix) => s3.keys(prefix),
      recoveryRecord: async (database, executionName) => {
        const keys = (await s3.keys(`${database}/recoveries/`)).filter((k) => k.includes(executionName) && k.endsWith('.json'));
        if (keys.length !== 1) throw new Error(`expected one recovery record of ${executionName}, found ${JSON.stringify(keys)}`);
        return JSON.parse((await store.getText(keys[0]))!.text) as RecoveryRecord;
      },
      store: () => store,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
