/**
 * The recovery-objectives monitor Lambda (one per database, run by EventBridge Scheduler every few
 * minutes): publishes the contract's metrics (lambda/monitor/contract.ts) and returns the
 * MonitorReport. A failing part is a problem in the report, never an error; only a wiring error
 * (env) throws: `EnvError`.
 *
 *   env:   PGDR_DATABASE, PGDR_BUCKET, PGDR_SECRET_ARN (the source's connection secret),
 *          PGDR_PG_SSLMODE / PGDR_PG_SSLROOTCERT, PGDR_MONITOR (JSON MonitorSettings),
 *          POWERTOOLS_SERVICE_NAME.
 *   calls: s3:ListBucket on <database>/*, s3:GetObject on <database>/* (pointer, verification
 *          records, manifests, recovery records), kms:Decrypt; secretsmanager:GetSecretValue on the
 *          secret; rds:DescribeDBInstances on the instance (RDS sources). FreeStoragePercent needs
 *          a CloudWatch reader (cloudwatch:GetMetricData): @aws-sdk/client-cloudwatch is not a
 *          dependency yet, so the default wiring has none and the report lists it as skipped.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { cloudWatchStorageReader } from './storage';
import { S3Client } from '@aws-sdk/client-s3';
import { RDSClient } from '@aws-sdk/client-rds';
import { rdsReader } from '../failover/preflight/rds';
import { EnvError, requireEnv, tlsFromEnv } from '../shared/env';
import { powertoolsLog } from '../shared/logging';
import { emfMetricsWithDimensions } from '../shared/metrics';
import { systemClock } from '../shared/ports';
import { S3ObjectStore } from '../shared/s3-store';
import { secretsManagerReader } from '../shared/secrets';
import { assertName } from '../shared/layout';
import type { MonitorSettings } from './contract';
import { MonitorDeps, MonitorReport, runMonitor } from './core';
import { pgDatabaseProbe } from './probe';

/** What the handler runs with: the core's ports and the settings. */
export interface MonitorHandlerDeps extends MonitorDeps {
  readonly settings: MonitorSettings;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const nonNegative = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** Parses and checks PGDR_MONITOR; throws EnvError naming the field, the rule and the value received. */
export function parseMonitorSettings(text: string | undefined, variable = 'PGDR_MONITOR'): MonitorSettings {
  if (text === undefined || text === '') throw new EnvError(`environment variable ${variable} is not set`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new EnvError(`${variable} is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw new EnvError(`${variable} must be a JSON object (received ${JSON.stringify(doc)})`);
  const field = (name: string, rule: string, value: unknown): EnvError => new EnvError(`${variable}.${name} must be ${rule} (received ${JSON.stringify(value)})`);
  if (!Array.isArray(doc.classes)) throw field('classes', 'an array of {name, intervalSeconds}', doc.classes);
  const names = new Set<string>();
  const classes = doc.classes.map((c, i) => {
    if (!isObject(c)) throw field(`classes[${i}]`, 'an object {name, intervalSeconds}', c);
    if (typeof c.name !== 'string') throw field(`classes[${i}].name`, 'a backup class name', c.name);
    try {
      assertName(c.name, 'backup class');
    } catch {
      throw field(`classes[${i}].name`, 'a valid backup class name (2-32 of a-z, 0-9, "-", starting with a letter)', c.name);
    }
    if (names.has(c.name)) throw field(`classes[${i}].name`, 'unique', c.name);
    names.add(c.name);
    if (!nonNegative(c.intervalSeconds) || c.intervalSeconds === 0) throw field(`classes[${i}].intervalSeconds`, 'a number of seconds > 0', c.intervalSeconds);
    return { name: c.name, intervalSeconds: c.intervalSeconds };
  });
  if (doc.rdsInstanceIdentifier !== undefined && (typeof doc.rdsInstanceIdentifier !== 'string' || doc.rdsInstanceIdentifier === '')) {
    throw field('rdsInstanceIdentifier', 'an RDS instance identifier (a non-empty string) or absent', doc.rdsInstanceIdentifier);
  }
  if (typeof doc.pointInTimeRecovery !== 'boolean') throw field('pointInTimeRecovery', 'true or false', doc.pointInTimeRecovery);
  for (const name of ['defaultInstanceCreateSeconds', 'rtoSeconds', 'rpoSeconds'] as const) {
    if (!nonNegative(doc[name]) || doc[name] === 0) throw field(name, 'a number of seconds > 0', doc[name]);
  }
  return {
    classes,
    ...(doc.rdsInstanceIdentifier !== undefined ? { rdsInstanceIdentifier: doc.rdsInstanceIdentifier as string } : {}),
    pointInTimeRecovery: doc.pointInTimeRecovery,
    defaultInstanceCreateSeconds: doc.defaultInstanceCreateSeconds as number,
    rtoSeconds: doc.rtoSeconds as number,
    rpoSeconds: doc.rpoSeconds as number,
  };
}

/** The handler over `deps`, or over a factory called on the first event (the real AWS wiring). The event (the schedule's) is ignored. */
export function makeHandler(deps: MonitorHandlerDeps | (() => MonitorHandlerDeps)): (event?: unknown) => Promise<MonitorReport> {
  let resolved: MonitorHandlerDeps | undefined;
  return async () => {
    resolved ??= typeof deps === 'function' ? deps() : deps;
    return runMonitor(resolved, resolved.settings);
  };
}

/** The real wiring from the environment (created on the first event: nothing at import time). */
export function depsFromEnv(env: NodeJS.ProcessEnv = process.env): MonitorHandlerDeps {
  const settings = parseMonitorSettings(env.PGDR_MONITOR);
  const database = requireEnv('PGDR_DATABASE', env);
  try {
    assertName(database, 'database');
  } catch (err) {
    throw new EnvError(`PGDR_DATABASE: ${(err as Error).message}`);
  }
  return {
    database,
    settings,
    store: new S3ObjectStore(new S3Client({}), requireEnv('PGDR_BUCKET', env)),
    ...(settings.rdsInstanceIdentifier ? { rds: rdsReader(new RDSClient({})), storage: cloudWatchStorageReader(new CloudWatchClient({})) } : {}),
    probe: pgDatabaseProbe({ secrets: secretsManagerReader(), secretId: requireEnv('PGDR_SECRET_ARN', env), tls: tlsFromEnv(env) }),
    metrics: (dimensions) => emfMetricsWithDimensions(dimensions),
    clock: systemClock,
    log: powertoolsLog(),
  };
}

export const handler = makeHandler(() => depsFromEnv());
