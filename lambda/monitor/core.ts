/**
 * The recovery-objectives monitor's core (lambda/monitor/contract.ts says what it publishes). Pure:
 * ports for the backup bucket, the RDS API, the FreeStorageSpace metric, the database probe, the
 * metrics and the clock. One run measures one database:
 *
 *   - backup age: `<db>/latest-verified.json` (missing, revoked, unreadable or corrupt →
 *     NO_BACKUP_AGE_SECONDS, and the report says why) and, per configured class, the newest
 *     verification record with ok=true (records read newest first, only as many as needed);
 *   - PITR lag (RDS sources with PITR): now − LatestRestorableTime;
 *   - estimated RTO ({@link estimateRtoSeconds}): instance creation + newest verified backup's
 *     stored bytes ÷ measured restore throughput + a validation allowance;
 *   - health: DatabaseReachable and ConnectionsUsedPercent through the source secret;
 *   - FreeStoragePercent (RDS): FreeStorageSpace ÷ AllocatedStorage.
 *
 * Every part fails on its own: a failing part (bucket, RDS API, database) is one problem in the
 * report and one structured log line, and every other value is still published. The run itself
 * never throws for a part's failure.
 */
import type { RecoveryRecord } from '../failover/contract';
import type { RdsReader } from '../failover/preflight/core';
import { classPrefix, keysFromDumpKey, keysFromManifestKey, latestVerifiedKey, databasePrefix, sortManifestKeys } from '../shared/layout';
import type { Clock, LogPort, MetricsPort, MetricUnit, ObjectStore } from '../shared/ports';
import { silentLog } from '../shared/ports';
import { parseLatestVerified, parseManifest, parseVerification, VerificationRecord } from '../shared/records';
import { redactSecrets } from '../shared/redact';
import { MonitorMetric, MonitorSettings, NO_BACKUP_AGE_SECONDS } from './contract';

// ---------------------------------------------------------------- ports

/** What the probe measured over one connection through the source secret. */
export interface ProbeResult {
  /** Client connections open on the server (pg_stat_activity, the probe's own included). */
  readonly connectionsUsed: number;
  /** The server's max_connections. */
  readonly maxConnections: number;
}

/** Connects to the protected database (adapter: probe.ts `pgDatabaseProbe`); throws when it cannot. */
export interface DatabaseProbe {
  probe(): Promise<ProbeResult>;
}

/** The RDS `FreeStorageSpace` metric (CloudWatch). */
export interface StorageReader {
  /** Bytes free in the newest datapoint at or before `now`, or undefined when there is none. */
  freeStorageBytes(instanceIdentifier: string, now: Date): Promise<number | undefined>;
}

/** Metrics bound to one dimension set ({database} or {database, class}). */
export type DimensionMetricsFactory = (dimensions: Record<string, string>) => MetricsPort;

export interface MonitorDeps {
  /** The pgdr database name (PGDR_DATABASE). */
  readonly database: string;
  readonly store: ObjectStore;
  /** RDS sources: DescribeDBInstances. */
  readonly rds?: Pick<RdsReader, 'describeInstance'>;
  /** RDS sources: the FreeStorageSpace metric; without it FreeStoragePercent is skipped (and the report says so). */
  readonly storage?: StorageReader;
  readonly probe: DatabaseProbe;
  readonly metrics: DimensionMetricsFactory;
  readonly clock: Clock;
  readonly log?: LogPort;
}

// ---------------------------------------------------------------- report

export type MonitorPart = 'backup-age' | 'class-age' | 'pitr' | 'estimated-rto' | 'drill-age' | 'health' | 'storage';

export interface MonitorValue {
  readonly metric: MonitorMetric;
  readonly dimensions: Record<string, string>;
  readonly value: number;
  readonly unit: MetricUnit;
}

export interface MonitorProblem {
  readonly part: MonitorPart;
  readonly message: string;
}

/** Where a number of the estimate came from. */
export type Origin = 'measured' | 'default';

export interface RtoEstimate {
  readonly seconds: number;
  readonly instanceCreateSeconds: number;
  readonly instanceCreateOrigin: Origin;
  /** The recovery record the instance creation time comes from (measured). */
  readonly instanceCreateFrom?: string;
  readonly backupBytes: number;
  readonly backupManifestKey: string;
  readonly throughputBytesPerSecond: number;
  readonly throughputOrigin: Origin;
  /** The restore tests the throughput is the median of (verification keys). */
  readonly throughputSamples: string[];
  readonly validationSeconds: number;
  readonly validationOrigin: Origin;
}

export interface MonitorReport {
  readonly database: string;
  readonly at: string;
  /** Every value published, in publication order. */
  readonly values: MonitorValue[];
  /** Every problem met (each also logged once). */
  readonly problems: MonitorProblem[];
  /** What was not measured on purpose, and why (not a problem: e.g. not an RDS source). */
  readonly skipped: string[];
  /** The newest verified backup per the pointer, or why there is none. */
  readonly latestVerified: { readonly manifestKey: string; readonly backupStartedAt: string } | { readonly none: string };
  /** Per configured class: the newest verified backup, or why there is none. */
  readonly classes: Record<string, { readonly manifestKey: string; readonly backupStartedAt: string } | { readonly none: string }>;
  readonly estimate: RtoEstimate | null;
  readonly rtoSeconds: number;
  readonly rpoSeconds: number;
}

// ---------------------------------------------------------------- estimate

/** Restore throughput used until a restore test has measured one: 10 MB/s (a small Lambda restoring a zstd dump is faster; a slow link is not). */
export const DEFAULT_RESTORE_BYTES_PER_SECOND = 10_000_000;
/** Validation allowance used until a restore test has measured its checks: 120 s (row and object counts, smoke queries). */
export const DEFAULT_VALIDATION_SECONDS = 120;
/** Restore tests (newest first, all classes) whose throughput the estimate takes the median of. */
export const RESTORE_SAMPLES = 5;
/** Verification records read per class at most (newest first) to find its newest verified backup and restore samples. */
export const MAX_RECORDS_PER_CLASS = 50;
/** Recovery records read at most (newest months first). */
export const MAX_RECOVERY_RECORDS = 24;

/**
 * The estimated RTO, in seconds, of a recovery started now from the newest verified dump:
 *
 *     instanceCreateSeconds + backupBytes / throughputBytesPerSecond + validationSeconds
 *
 * - instanceCreateSeconds: the newest successful pitr/snapshot recovery's start → validated time
 *   (an upper bound of the creation: it includes that run's validation), else the configured default;
 * - backupBytes: the newest verified backup's stored bytes (manifest `dump.bytes`);
 * - throughputBytesPerSecond: the median stored-bytes-per-restore-second of recent restore tests
 *   ({@link medianThroughput}), else {@link DEFAULT_RESTORE_BYTES_PER_SECOND};
 * - validationSeconds: the median of those tests' checks (totalSeconds − restoreSeconds), else
 *   {@link DEFAULT_VALIDATION_SECONDS}.
 * Rounded up to the second.
 */
export function estimateRtoSeconds(input: { instanceCreateSeconds: number; backupBytes: number; throughputBytesPerSecond: number; validationSeconds: number }): number {
  const { instanceCreateSeconds, backupBytes, throughputBytesPerSecond, validationSeconds } = input;
  for (const [name, value] of Object.entries(input)) {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`estimateRtoSeconds: ${name} must be a finite number >= 0 (received ${value})`);
  }
  if (throughputBytesPerSecond === 0) throw new RangeError('estimateRtoSeconds: throughputBytesPerSecond must be > 0 (received 0)');
  return Math.ceil(instanceCreateSeconds + backupBytes / throughputBytesPerSecond + validationSeconds);
}

/** The median of a non-empty list (mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** One restore test: stored bytes restored in `restoreSeconds`, checked in `checkSeconds`. */
export interface RestoreSample {
  readonly verificationKey: string;
  readonly verifiedAt: string;
  readonly bytes: number;
  readonly restoreSeconds: number;
  readonly checkSeconds: number;
}

/** Median bytes per second of the samples (each sample's bytes ÷ its restore seconds), or undefined when there are none. */
export function medianThroughput(samples: readonly RestoreSample[]): number | undefined {
  const rates = samples.filter((s) => s.restoreSeconds > 0 && s.bytes > 0).map((s) => s.bytes / s.restoreSeconds);
  return rates.length > 0 ? median(rates) : undefined;
}

// ---------------------------------------------------------------- run

const message = (err: unknown): string => redactSecrets(err instanceof Error ? `${err.name}: ${err.message}` : String(err));

interface Found {
  readonly manifestKey: string;
  readonly backupStartedAt: string;
}

/** What the parts that read only the vault need. */
type VaultDeps = Pick<MonitorDeps, 'database' | 'store'>;

class Run {
  readonly values: MonitorValue[] = [];
  readonly problems: MonitorProblem[] = [];
  readonly skipped: string[] = [];
  private readonly ports = new Map<string, MetricsPort>();
  readonly log: LogPort;

  constructor(private readonly deps: Pick<MonitorDeps, 'database' | 'metrics' | 'log'>) {
    this.log = deps.log ?? silentLog;
  }

  /** Each part reports its own failures; this is the net for the unexpected (a bug in a part still leaves the others published). */
  async guard<T>(part: MonitorPart, fn: () => Promise<T>, fallback: T): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      this.problem(part, `unexpected: ${message(err)}`);
      return fallback;
    }
  }

  publish(metric: MonitorMetric, value: number, unit: MetricUnit, extra: Record<string, string> = {}): void {
    const dimensions = { database: this.deps.database, ...extra };
    const id = JSON.stringify(dimensions);
    let port = this.ports.get(id);
    if (!port) {
      port = this.deps.metrics(dimensions);
      this.ports.set(id, port);
    }
    port.add(metric, value, unit);
    this.values.push({ metric, dimensions, value, unit });
  }

  problem(part: MonitorPart, text: string): void {
    this.problems.push({ part, message: text });
    this.log.warn('monitor: problem', { database: this.deps.database, part, problem: text });
  }

  flush(): void {
    for (const port of this.ports.values()) {
      try {
        port.flush();
      } catch (err) {
        this.log.error('monitor: metrics not published', { database: this.deps.database, error: message(err) });
      }
    }
  }
}

/** Runs one monitor pass; never throws for a failing part (see the module doc). */
export async function runMonitor(deps: MonitorDeps, settings: MonitorSettings): Promise<MonitorReport> {
  const run = new Run(deps);
  const now = deps.clock.now();
  const ageOf = (startedAt: string): number | undefined => {
    const t = Date.parse(startedAt);
    return Number.isNaN(t) ? undefined : Math.max(0, Math.round((now.getTime() - t) / 1000));
  };

  // Parts that do not depend on each other run together.
  const guard = run.guard.bind(run);
  const [[latest, scan, recoveries], instance, health] = await Promise.all([
    readVaultParts(deps, settings, run),
    guard<Outcome<Instance>>('pitr', () => describeInstance(deps, settings, run), { ok: false }),
    guard<Outcome<ProbeResult>>('health', () => probe(deps, run), { ok: false }),
  ]);

  // BackupAgeSeconds {database}
  let latestVerified: MonitorReport['latestVerified'];
  const age = 'none' in latest ? undefined : ageOf(latest.backupStartedAt);
  if ('none' in latest || age === undefined) {
    const why = 'none' in latest ? latest.none : `corrupt: backupStartedAt ${JSON.stringify(latest.backupStartedAt)} is not a date`;
    if (!('none' in latest)) run.problem('backup-age', `latest-verified pointer ${latestVerifiedKey(deps.database)}: ${why}`);
    latestVerified = { none: why };
    run.publish('BackupAgeSeconds', NO_BACKUP_AGE_SECONDS, 'Seconds');
  } else {
    latestVerified = latest;
    run.publish('BackupAgeSeconds', age, 'Seconds');
  }

  // BackupAgeSeconds {database, class}
  const classes: MonitorReport['classes'] = {};
  for (const { name } of settings.classes) {
    const found = scan.newest.get(name) ?? { none: 'no verified backup' };
    const classAge = 'none' in found ? undefined : ageOf(found.backupStartedAt);
    classes[name] = found;
    run.publish('BackupAgeSeconds', classAge ?? NO_BACKUP_AGE_SECONDS, 'Seconds', { class: name });
  }

  // PitrLagSeconds {database}
  if (settings.rdsInstanceIdentifier && settings.pointInTimeRecovery) {
    if (instance.ok) {
      const lrt = instance.value?.latestRestorableTime;
      if (!instance.value) {
        run.problem('pitr', `RDS instance ${settings.rdsInstanceIdentifier} not found: no point-in-time recovery`);
        run.publish('PitrLagSeconds', NO_BACKUP_AGE_SECONDS, 'Seconds');
      } else if (!lrt) {
        run.problem('pitr', `RDS instance ${settings.rdsInstanceIdentifier} has no LatestRestorableTime: no point-in-time recovery`);
        run.publish('PitrLagSeconds', NO_BACKUP_AGE_SECONDS, 'Seconds');
      } else {
        run.publish('PitrLagSeconds', Math.max(0, Math.round((now.getTime() - lrt.getTime()) / 1000)), 'Seconds');
      }
    }
  } else {
    run.skipped.push(settings.rdsInstanceIdentifier ? 'PitrLagSeconds: point-in-time recovery is off in the configuration' : 'PitrLagSeconds: not an RDS source');
  }

  // EstimatedRtoSeconds {database}
  const estimate = await guard('estimated-rto', () => estimate_(deps, settings, run, latestVerified, scan.samples, recoveries.create), null);

  // DrillAgeSeconds {database}: since the newest successful drill finished (none: the age of nothing, so the drill-age alarm fires).
  const drillAge = recoveries.drill ? ageOf(recoveries.drill.finishedAt) : undefined;
  if (!recoveries.drill) run.skipped.push('DrillAgeSeconds: no successful drill recorded; published as the age of nothing');
  run.publish('DrillAgeSeconds', drillAge ?? NO_BACKUP_AGE_SECONDS, 'Seconds');
  if (estimate) run.publish('EstimatedRtoSeconds', estimate.seconds, 'Seconds');

  // DatabaseReachable, ConnectionsUsedPercent {database}
  if (health.ok) {
    run.publish('DatabaseReachable', 1, 'Count');
    const { connectionsUsed, maxConnections } = health.value;
    if (maxConnections > 0) run.publish('ConnectionsUsedPercent', round2((connectionsUsed / maxConnections) * 100), 'Percent');
    else run.problem('health', `max_connections is ${maxConnections}: ConnectionsUsedPercent not published`);
  } else {
    run.publish('DatabaseReachable', 0, 'Count');
  }

  // FreeStoragePercent {database}
  await guard('storage', () => freeStorage(deps, settings, run, instance, now), undefined);

  run.flush();
  const report: MonitorReport = {
    database: deps.database,
    at: now.toISOString(),
    values: run.values,
    problems: run.problems,
    skipped: run.skipped,
    latestVerified,
    classes,
    estimate,
    rtoSeconds: settings.rtoSeconds,
    rpoSeconds: settings.rpoSeconds,
  };
  run.log.info('monitor: measured', {
    database: deps.database,
    rpoSeconds: settings.rpoSeconds,
    rtoSeconds: settings.rtoSeconds,
    values: run.values.map((v) => ({ metric: v.metric, ...('class' in v.dimensions ? { class: v.dimensions.class } : {}), value: v.value })),
    problems: run.problems.length,
    skipped: run.skipped,
  });
  return report;
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

/** The parts of a run that read only the vault, together: the pointer, the classes' records, the recovery records. */
function readVaultParts(deps: VaultDeps, settings: MonitorSettings, run: Run): Promise<[Found | { none: string }, ClassScan, RecoveryScan]> {
  return Promise.all([
    run.guard<Found | { none: string }>('backup-age', () => readLatestVerified(deps, run), { none: 'unreadable: unexpected error' }),
    run.guard<ClassScan>('class-age', () => scanClasses(deps, settings, run), { newest: new Map<string, Found | { none: string }>(), samples: [] }),
    run.guard<RecoveryScan>('estimated-rto', () => scanRecoveries(deps, run), { create: undefined, drill: undefined }),
  ]);
}

/** What the vault alone says of a database's recovery (the monitor's reading, without metrics, RDS or probe). */
export interface VaultReading {
  /** The newest verified backup per the pointer, or why there is none. */
  readonly latestVerified: MonitorReport['latestVerified'];
  /** The monitor's RTO estimate, null when it cannot be made (a problem says why). */
  readonly estimate: RtoEstimate | null;
  readonly problems: MonitorProblem[];
}

/**
 * Reads what the monitor reads from the vault and makes its RTO estimate, publishing nothing:
 * for `pgdr status`. Never throws for a part's failure (each is a problem).
 */
export async function readVault(deps: VaultDeps & { log?: LogPort }, settings: MonitorSettings): Promise<VaultReading> {
  const run = new Run({ database: deps.database, log: deps.log, metrics: () => ({ add: () => undefined, flush: () => undefined }) });
  const [latest, scan, recoveries] = await readVaultParts(deps, settings, run);
  const estimate = await run.guard('estimated-rto', () => estimate_(deps, settings, run, latest, scan.samples, recoveries.create), null);
  return { latestVerified: latest, estimate, problems: run.problems };
}

type Outcome<T> = { ok: true; value: T } | { ok: false };

async function readLatestVerified(deps: VaultDeps, run: Run): Promise<Found | { none: string }> {
  const key = latestVerifiedKey(deps.database);
  let stored;
  try {
    stored = await deps.store.getText(key);
  } catch (err) {
    const why = `unreadable: ${message(err)}`;
    run.problem('backup-age', `latest-verified pointer ${key}: ${why}`);
    return { none: why };
  }
  if (!stored) {
    run.problem('backup-age', `latest-verified pointer ${key}: missing (no verified backup yet)`);
    return { none: 'missing: no latest-verified pointer' };
  }
  try {
    const pointer = parseLatestVerified(stored.text, key);
    if (pointer.revoked) {
      const why = `revoked at ${pointer.revoked.at}: ${redactSecrets(String(pointer.revoked.reason))}`;
      run.problem('backup-age', `latest-verified pointer ${key}: ${why}`);
      return { none: why };
    }
    return { manifestKey: pointer.manifestKey ?? keysFromDumpKey(pointer.dumpKey).manifest, backupStartedAt: pointer.backupStartedAt };
  } catch (err) {
    const why = `corrupt: ${message(err)}`;
    run.problem('backup-age', `latest-verified pointer ${key}: ${why}`);
    return { none: why };
  }
}

/**
 * Per configured class: the newest verification record with ok=true, reading the class's records
 * newest first (by the key's backup time), at most MAX_RECORDS_PER_CLASS; on the way, restore-test
 * samples (ok records with a restore test), until RESTORE_SAMPLES of them.
 */
interface ClassScan {
  readonly newest: Map<string, Found | { none: string }>;
  readonly samples: RestoreSample[];
}

async function scanClasses(deps: VaultDeps, settings: MonitorSettings, run: Run): Promise<ClassScan> {
  const newest = new Map<string, Found | { none: string }>();
  const samples: RestoreSample[] = [];
  await Promise.all(
    settings.classes.map(async ({ name }) => {
      const prefix = classPrefix(deps.database, name);
      let keys: string[];
      try {
        keys = await deps.store.listKeys(prefix);
      } catch (err) {
        const why = `unreadable: cannot list ${prefix}: ${message(err)}`;
        run.problem('class-age', why);
        newest.set(name, { none: why });
        return;
      }
      const present = new Set(keys);
      const manifests = sortManifestKeys(keys.filter((k) => k.endsWith('.manifest.json') && present.has(keysFromManifestKey(k).verification))).reverse();
      let found: Found | undefined;
      let classSamples = 0;
      let read = 0;
      for (const manifestKey of manifests) {
        if (found && classSamples >= RESTORE_SAMPLES) break;
        if (read >= MAX_RECORDS_PER_CLASS) break;
        read++;
        const key = keysFromManifestKey(manifestKey).verification;
        let record: VerificationRecord;
        try {
          const stored = await deps.store.getText(key);
          if (!stored) continue;
          record = parseVerification(stored.text, key);
        } catch (err) {
          run.problem('class-age', `verification record ${key} skipped: ${message(err)}`);
          continue;
        }
        if (record.ok !== true) continue;
        if (!found && typeof record.backupStartedAt === 'string') found = { manifestKey, backupStartedAt: record.backupStartedAt };
        const test = record.restoreTest;
        const bytes = record.integrity?.expectedBytes;
        if (test && typeof test.restoreSeconds === 'number' && typeof bytes === 'number' && classSamples < RESTORE_SAMPLES) {
          samples.push({
            verificationKey: key,
            verifiedAt: record.verifiedAt,
            bytes,
            restoreSeconds: test.restoreSeconds,
            checkSeconds: Math.max(0, (test.totalSeconds ?? test.restoreSeconds) - test.restoreSeconds),
          });
          classSamples++;
        }
      }
      newest.set(name, found ?? { none: read >= MAX_RECORDS_PER_CLASS ? `no verified backup among the newest ${MAX_RECORDS_PER_CLASS} verification records` : 'no verified backup' });
    }),
  );
  samples.sort((a, b) => (a.verifiedAt < b.verifiedAt ? 1 : a.verifiedAt > b.verifiedAt ? -1 : 0));
  return { newest, samples: samples.slice(0, RESTORE_SAMPLES) };
}

interface RecoveryScan {
  /** The newest successful pitr/snapshot recovery's start → validated seconds. */
  readonly create: { seconds: number; key: string } | undefined;
  /** The newest successful drill's finish time. */
  readonly drill: { finishedAt: string; key: string } | undefined;
}

/**
 * Reads the newest recovery records once for two measurements: the newest successful pitr/snapshot
 * recovery's start → validated seconds (the time to create an instance and prove it; recovery
 * records carry no separate "available" time; dump recoveries are not used: their time includes
 * the restore, which the record does not separate), and the newest successful drill.
 */
async function scanRecoveries(deps: VaultDeps, run: Run): Promise<RecoveryScan> {
  const prefix = `${databasePrefix(deps.database)}recoveries/`;
  let keys: string[];
  try {
    keys = (await deps.store.listKeys(prefix)).filter((k) => k.endsWith('.json'));
  } catch (err) {
    run.problem('estimated-rto', `cannot list recovery records ${prefix}: ${message(err)}`);
    run.problem('drill-age', `cannot list recovery records ${prefix}: ${message(err)}`);
    return { create: undefined, drill: undefined };
  }
  // <db>/recoveries/YYYY/MM/<execution>.json: newest months first; within a month the start time decides.
  keys.sort((a, b) => (a.slice(prefix.length, prefix.length + 7) < b.slice(prefix.length, prefix.length + 7) ? 1 : a.slice(prefix.length, prefix.length + 7) > b.slice(prefix.length, prefix.length + 7) ? -1 : 0));
  let best: { seconds: number; key: string; startedAt: string } | undefined;
  let drill: { finishedAt: string; key: string } | undefined;
  for (const key of keys.slice(0, MAX_RECOVERY_RECORDS)) {
    try {
      const stored = await deps.store.getText(key);
      if (!stored) continue;
      const record = JSON.parse(stored.text) as Partial<RecoveryRecord>;
      const seconds = record.timings?.validatedSeconds;
      if (record.schemaVersion === 1 && record.outcome === 'succeeded' && record.mode === 'drill' && typeof record.finishedAt === 'string' && (!drill || record.finishedAt > drill.finishedAt)) {
        drill = { finishedAt: record.finishedAt, key };
      }
      if (record.schemaVersion !== 1 || record.outcome !== 'succeeded' || (record.source !== 'pitr' && record.source !== 'snapshot')) continue;
      if (typeof seconds !== 'number' || seconds <= 0 || typeof record.startedAt !== 'string') continue;
      if (!best || record.startedAt > best.startedAt) best = { seconds, key, startedAt: record.startedAt };
    } catch (err) {
      run.problem('estimated-rto', `recovery record ${key} skipped: ${message(err)}`);
    }
  }
  return { create: best && { seconds: best.seconds, key: best.key }, drill };
}

async function estimate_(
  deps: VaultDeps,
  settings: MonitorSettings,
  run: Run,
  latest: MonitorReport['latestVerified'],
  samples: RestoreSample[],
  create: { seconds: number; key: string } | undefined,
): Promise<RtoEstimate | null> {
  if ('none' in latest) {
    run.problem('estimated-rto', `EstimatedRtoSeconds not published: no verified backup to restore (${latest.none})`);
    return null;
  }
  let backupBytes: number;
  try {
    const stored = await deps.store.getText(latest.manifestKey);
    if (!stored) throw new Error('the manifest does not exist');
    backupBytes = parseManifest(stored.text, latest.manifestKey).dump.bytes;
  } catch (err) {
    run.problem('estimated-rto', `EstimatedRtoSeconds not published: manifest ${latest.manifestKey} unreadable: ${message(err)}`);
    return null;
  }
  const measured = medianThroughput(samples);
  const used = samples.filter((s) => s.restoreSeconds > 0 && s.bytes > 0);
  if (measured === undefined) run.skipped.push(`restore throughput: no restore test measured yet, the default ${DEFAULT_RESTORE_BYTES_PER_SECOND} bytes/s is used`);
  if (!create) run.skipped.push(`instance creation: no recovery measured it yet, the default ${settings.defaultInstanceCreateSeconds} s is used`);
  const throughputBytesPerSecond = measured ?? DEFAULT_RESTORE_BYTES_PER_SECOND;
  const validationSeconds = used.length > 0 ? median(used.map((s) => s.checkSeconds)) : DEFAULT_VALIDATION_SECONDS;
  const instanceCreateSeconds = create?.seconds ?? settings.defaultInstanceCreateSeconds;
  return {
    seconds: estimateRtoSeconds({ instanceCreateSeconds, backupBytes, throughputBytesPerSecond, validationSeconds }),
    instanceCreateSeconds,
    instanceCreateOrigin: create ? 'measured' : 'default',
    ...(create ? { instanceCreateFrom: create.key } : {}),
    backupBytes,
    backupManifestKey: latest.manifestKey,
    throughputBytesPerSecond,
    throughputOrigin: measured === undefined ? 'default' : 'measured',
    throughputSamples: used.map((s) => s.verificationKey),
    validationSeconds,
    validationOrigin: used.length > 0 ? 'measured' : 'default',
  };
}

type Instance = Awaited<ReturnType<RdsReader['describeInstance']>>;

async function describeInstance(deps: MonitorDeps, settings: MonitorSettings, run: Run): Promise<Outcome<Instance>> {
  if (!settings.rdsInstanceIdentifier) return { ok: true, value: undefined };
  if (!deps.rds) {
    run.problem('pitr', `no RDS reader wired: instance ${settings.rdsInstanceIdentifier} not described`);
    return { ok: false };
  }
  try {
    return { ok: true, value: await deps.rds.describeInstance(settings.rdsInstanceIdentifier) };
  } catch (err) {
    run.problem('pitr', `DescribeDBInstances ${settings.rdsInstanceIdentifier} failed: ${message(err)}`);
    return { ok: false };
  }
}

async function probe(deps: MonitorDeps, run: Run): Promise<Outcome<ProbeResult>> {
  try {
    return { ok: true, value: await deps.probe.probe() };
  } catch (err) {
    run.problem('health', `database unreachable: ${message(err)}`);
    return { ok: false };
  }
}

async function freeStorage(deps: MonitorDeps, settings: MonitorSettings, run: Run, instance: Outcome<Instance>, now: Date): Promise<void> {
  const id = settings.rdsInstanceIdentifier;
  if (!id) {
    run.skipped.push('FreeStoragePercent: not an RDS source');
    return;
  }
  if (!deps.storage) {
    run.skipped.push('FreeStoragePercent: no FreeStorageSpace reader wired (no CloudWatch client)');
    return;
  }
  if (!instance.ok) return; // the describe problem is already reported
  const allocated = instance.value?.allocatedStorageGiB;
  if (!instance.value || typeof allocated !== 'number' || allocated <= 0) {
    run.problem('storage', `FreeStoragePercent not published: the allocated storage of ${id} is unknown`);
    return;
  }
  try {
    const free = await deps.storage.freeStorageBytes(id, now);
    if (free === undefined) {
      run.problem('storage', `FreeStoragePercent not published: no FreeStorageSpace datapoint for ${id}`);
      return;
    }
    run.publish('FreeStoragePercent', round2((free / (allocated * 2 ** 30)) * 100), 'Percent');
  } catch (err) {
    run.problem('storage', `FreeStorageSpace of ${id} unreadable: ${message(err)}`);
  }
}
