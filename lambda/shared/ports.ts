/**
 * The ports the dump and verify cores talk to. Adapters: s3-store.ts (S3 / s3rver),
 * secrets.ts (Secrets Manager: `SecretReader`), metrics.ts (CloudWatch EMF via Powertools), logging.ts
 * (Powertools logger), pg-process.ts + pg-client.ts (PostgreSQL tools and connections).
 */
import type { Readable } from 'node:stream';

/** Time, injectable for tests. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Seconds from `from` to `to`, to the hundredth (the durations every record carries). */
export const seconds = (from: Date, to: Date): number => Math.round((to.getTime() - from.getTime()) / 10) / 100;

/** A stored text document and its version tag (for conditional writes). */
export interface StoredText {
  readonly text: string;
  readonly etag?: string;
}

export interface PutTextOptions {
  readonly contentType?: string;
  /** Write only if the object still has this ETag. */
  readonly ifMatch?: string;
  /** Write only if the object does not exist. */
  readonly ifNoneMatch?: boolean;
}

export interface UploadOptions {
  /**
   * Called once every byte is uploaded, before the object is made visible (CompleteMultipartUpload
   * or the single PutObject); rejecting aborts the upload. The last word of the producer.
   */
  readonly beforeComplete?: () => Promise<void>;
}

/** The backup bucket. */
export interface ObjectStore {
  /** Bucket name, recorded in manifests. */
  readonly bucket: string;
  /** The object's text, or undefined when there is no such key. */
  getText(key: string): Promise<StoredText | undefined>;
  /** Writes a small object; throws PreconditionFailedError when a condition does not hold. */
  putText(key: string, text: string, options?: PutTextOptions): Promise<void>;
  /** The object's bytes as a stream, or undefined when there is no such key. */
  getStream(key: string): Promise<Readable | undefined>;
  /**
   * Streams `body` into the object (multipart for large bodies, constant memory). When the body
   * errors, a request fails or `beforeComplete` rejects, the multipart upload is aborted and the
   * error is rethrown; the object then does not exist. A chunk of `body` may be reused once the
   * next one is asked for (staged-output.ts reads into a ring of buffers): copy what is kept.
   */
  uploadStream(key: string, body: AsyncIterable<Buffer>, contentType: string, options?: UploadOptions): Promise<void>;
  /** All keys under a prefix. */
  listKeys(prefix: string): Promise<string[]>;
}

/** A conditional write lost a race. */
export class PreconditionFailedError extends Error {
  constructor(key: string) {
    super(`conditional write of ${key} failed: the object changed meanwhile`);
    this.name = 'PreconditionFailedError';
  }
}

export type MetricName =
  | 'BackupSucceeded'
  | 'BackupFailed'
  | 'BackupBytes'
  | 'BackupSeconds'
  | 'CompressionRatio'
  | 'VerifySucceeded'
  | 'VerifyFailed'
  | 'RestoreTestSeconds'
  | 'RowCountMismatches'
  // failover workflow (dimensions database, mode, source)
  | 'RecoverySeconds'
  | 'RecoveryValidatedSeconds'
  | 'RecoverySucceeded'
  | 'RecoveryFailed'
  | 'BackupAgeSeconds'
  | 'PitrLagSeconds'
  | 'EstimatedRtoSeconds'
  | 'DatabaseReachable'
  | 'ConnectionsUsedPercent'
  | 'FreeStoragePercent'
  | 'DrillAgeSeconds';

export type MetricUnit = 'Count' | 'Bytes' | 'Seconds' | 'Percent' | 'None';

/** Metrics of one job run, already bound to its dimensions (backup jobs: database, class; recoveries: database, mode, source). */
export interface MetricsPort {
  add(name: MetricName, value: number, unit: MetricUnit): void;
  /** Publishes what was added (once per run, also after a failure). */
  flush(): void;
}

/** Creates the metrics of one run for a database and backup class. */
export type MetricsFactory = (database: string, backupClass: string) => MetricsPort;

/** Secrets by ARN or name (adapter: secrets.ts `secretsManagerReader`). */
export interface SecretReader {
  /** The secret's JSON object; throws ConnectionError (naming the secret, never its value) when unreadable or not a JSON object. */
  json(secretId: string): Promise<Record<string, unknown>>;
}

/** Structured logs. Never pass a password or a URL that contains one. */
export interface LogPort {
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
}

export const silentLog: LogPort = { info: () => undefined, warn: () => undefined, error: () => undefined };
