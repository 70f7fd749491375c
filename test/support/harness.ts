/**
 * Wiring of the real dump and verify cores with the real adapters (S3 store on s3rver, pg tools,
 * EMF metrics captured from their output stream) for data-path tests.
 */
import { Writable } from 'node:stream';
import { runDump, DumpDeps } from '../../lambda/dump/core';
import { runVerify, SCRATCH_PREFIX, VerifyDeps, VerificationPolicy } from '../../lambda/verify/core';
import { connectionFromUrl } from '../../lambda/shared/connection';
import { S3ObjectStore } from '../../lambda/shared/s3-store';
import { emfMetrics } from '../../lambda/shared/metrics';
import { LogPort, MetricsFactory, systemClock } from '../../lambda/shared/ports';
import type { BackupManifest, VerificationRecord } from '../../lambda/shared/records';
import { PgCluster, PG_BIN } from '../../local/pg-cluster';
import type { TestS3 } from './s3-server';

/** EMF lines written by the real metrics adapter, parsed. */
export class EmfCapture {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly factory: MetricsFactory = (database, backupClass) =>
    emfMetrics(
      database,
      backupClass,
      new Writable({
        write: (chunk, _enc, cb) => {
          for (const line of chunk.toString().split('\n').filter(Boolean)) this.lines.push(JSON.parse(line));
          cb();
        },
      }),
    );
  /** Values of a metric across all lines. */
  values(name: string): number[] {
    return this.lines.filter((l) => name in l).map((l) => l[name] as number);
  }
  clear(): void {
    this.lines.length = 0;
  }
}

/** A LogPort that keeps every line (as JSON text) for assertions. */
export class LogCapture implements LogPort {
  readonly entries: Array<{ level: string; message: string; attributes?: Record<string, unknown> }> = [];
  info = (message: string, attributes?: Record<string, unknown>) => void this.entries.push({ level: 'INFO', message, attributes });
  warn = (message: string, attributes?: Record<string, unknown>) => void this.entries.push({ level: 'WARN', message, attributes });
  error = (message: string, attributes?: Record<string, unknown>) => void this.entries.push({ level: 'ERROR', message, attributes });
  text(): string {
    return this.entries.map((e) => JSON.stringify(e)).join('\n');
  }
}

export interface Harness {
  readonly emf: EmfCapture;
  readonly log: LogCapture;
  store(): S3ObjectStore;
  /** `signal` abandons the dump when it aborts (DumpRequest.signal). */
  dump(overrides?: Partial<DumpDeps>, backupClass?: string, signal?: AbortSignal): Promise<BackupManifest>;
  verify(request?: { manifestKey?: string; restoreTest?: boolean }, overrides?: Partial<VerifyDeps>): Promise<VerificationRecord>;
}

/** The databases on `pg` named like restore-test scratch databases (SCRATCH_PREFIX). */
export async function scratchDatabases(pg: PgCluster): Promise<string[]> {
  return (await pg.databases()).filter((d) => d.startsWith(SCRATCH_PREFIX));
}

export function harness(pg: PgCluster, s3: TestS3, database: string, sourceDb: string, policy: VerificationPolicy = { restoreTestEveryNth: 1, smokeQueries: [] }): Harness {
  const emf = new EmfCapture();
  const log = new LogCapture();
  const store = () => new S3ObjectStore(s3.client, s3.bucket, { kmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/test', partSize: 5 * 1024 * 1024 });
  const connection = connectionFromUrl(pg.url(sourceDb));
  return {
    emf,
    log,
    store,
    dump: (overrides = {}, backupClass = 'daily', signal?: AbortSignal) =>
      runDump(
        { store: store(), connection, pgBin: PG_BIN, compression: 'auto', metrics: emf.factory(database, overrides.metrics ? 'x' : backupClass), log, clock: systemClock, ...overrides },
        { database, backupClass, signal },
      ),
    verify: (request = {}, overrides = {}) =>
      runVerify(
        { store: store(), restoreServer: { connection, kind: 'source' }, pgBin: PG_BIN, policy, metrics: emf.factory, log, clock: systemClock, ...overrides },
        { database, ...request },
      ),
  };
}
