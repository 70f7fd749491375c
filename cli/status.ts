/**
 * `pgdr status`, shared by both backends: a database's recovery posture read from the vault's
 * records (lambda/shared/layout.ts keys): the newest manifest, the `latest-verified.json` pointer,
 * verification records (the newest restore test), recovery records (`<db>/recoveries/…`, the newest
 * drill or failover) and the monitor's RTO estimate (lambda/monitor/core.ts readVault, the same
 * reading the monitor publishes). Every part that cannot be read is one line in `problems`, never
 * fatal. The backends add the alarms.
 */
import type { RecoveryRecord } from '../lambda/failover/contract';
import { readVault } from '../lambda/monitor/core';
import { databasePrefix, keysFromManifestKey, manifestKeyOf, sortManifestKeys } from '../lambda/shared/layout';
import type { ObjectStore } from '../lambda/shared/ports';
import { BackupManifest, parseManifest, parseVerification } from '../lambda/shared/records';
import { redactSecrets } from '../lambda/shared/redact';
import type { DatabaseConfig } from '../lib/config';
import { monitorSettings } from '../lib/monitor-settings';
import type { BackupSummary, DatabaseStatus } from './contract';

/** Verification records read at most (newest first) to find the newest restore test. */
export const MAX_VERIFICATIONS_READ = 50;
/** Recovery records read at most (newest months first) to find the newest one. */
export const MAX_RECOVERIES_READ = 50;

export type VaultStatus = Omit<DatabaseStatus, 'alarmsInAlarm' | 'alarmsKnown'>;

const why = (err: unknown): string => redactSecrets(err instanceof Error ? `${err.name}: ${err.message}` : String(err));

const ageSeconds = (at: string, now: Date): number => Math.max(0, Math.round((now.getTime() - Date.parse(at)) / 1000));

function summary(manifest: BackupManifest, now: Date): BackupSummary {
  return { key: manifest.dump.key, backupClass: manifest.backupClass, at: manifest.startedAt, ageSeconds: ageSeconds(manifest.startedAt, now), bytes: manifest.dump.bytes };
}

/** The status of `db` from the vault, as of `now`. Never throws for a record that cannot be read. */
export async function readDatabaseStatus(store: ObjectStore, db: DatabaseConfig, now: Date): Promise<VaultStatus> {
  const database = db.name;
  const problems: string[] = [];
  const readManifest = async (key: string): Promise<BackupManifest | undefined> => {
    try {
      const stored = await store.getText(key);
      if (!stored) throw new Error('it does not exist');
      return parseManifest(stored.text, key);
    } catch (err) {
      problems.push(`manifest ${key} unreadable: ${why(err)}`);
      return undefined;
    }
  };

  const [vault, keys, lastRecovery] = await Promise.all([
    readVault({ database, store }, monitorSettings(db)),
    store.listKeys(databasePrefix(database)).catch((err: unknown) => {
      problems.push(`cannot list s3://${store.bucket}/${databasePrefix(database)}: ${why(err)}`);
      return undefined;
    }),
    readLastRecovery(store, database, problems),
  ]);

  // Newest backup: the newest manifest that can be read.
  const present = new Set(keys ?? []);
  const manifests = sortManifestKeys((keys ?? []).filter((k) => k.endsWith('.manifest.json'))).reverse();
  let newest: BackupManifest | undefined;
  for (const key of manifests.slice(0, 3)) {
    newest = await readManifest(key);
    if (newest) break;
  }

  // Newest verified: the monitor's reading of the pointer.
  let verified: BackupManifest | undefined;
  if (!('none' in vault.latestVerified)) {
    const key = vault.latestVerified.manifestKey;
    verified = newest && manifestKeyOf(newest.dump.key) === key ? newest : await readManifest(key);
  }

  // Newest restore test: verification records newest first.
  let lastRestoreTest: VaultStatus['lastRestoreTest'];
  const verifications = manifests.map((k) => keysFromManifestKey(k).verification).filter((k) => present.has(k));
  for (const key of verifications.slice(0, MAX_VERIFICATIONS_READ)) {
    try {
      const stored = await store.getText(key);
      if (!stored) continue;
      const record = parseVerification(stored.text, key);
      if (record.restoreTest) {
        lastRestoreTest = { at: record.verifiedAt, seconds: record.restoreTest.totalSeconds, ok: record.ok };
        break;
      }
    } catch (err) {
      problems.push(`verification record ${key} unreadable: ${why(err)}`);
    }
  }

  const newestVerified = verified && summary(verified, now);
  return {
    database,
    rpoSeconds: db.rpo.seconds,
    rtoSeconds: db.rto.seconds,
    ...(newest ? { newestBackup: summary(newest, now) } : {}),
    ...(newestVerified ? { newestVerified } : {}),
    withinRpo: newestVerified !== undefined && newestVerified.ageSeconds <= db.rpo.seconds,
    ...(lastRestoreTest ? { lastRestoreTest } : {}),
    ...(lastRecovery ? { lastRecovery } : {}),
    ...(vault.estimate ? { estimatedRtoSeconds: vault.estimate.seconds } : {}),
    problems: [...new Set([...vault.problems.map((p) => p.message), ...problems])],
  };
}

/** The newest recovery record (by start time) of the newest months, or undefined. */
async function readLastRecovery(store: ObjectStore, database: string, problems: string[]): Promise<VaultStatus['lastRecovery']> {
  const prefix = `${databasePrefix(database)}recoveries/`;
  let keys: string[];
  try {
    keys = (await store.listKeys(prefix)).filter((k) => k.endsWith('.json'));
  } catch (err) {
    problems.push(`cannot list recovery records s3://${store.bucket}/${prefix}: ${why(err)}`);
    return undefined;
  }
  // <db>/recoveries/YYYY/MM/<execution>.json: newest months first; within a month the start time decides.
  const month = (k: string) => k.slice(prefix.length, prefix.length + 7);
  keys.sort((a, b) => (month(a) < month(b) ? 1 : month(a) > month(b) ? -1 : 0));
  let best: RecoveryRecord | undefined;
  for (const key of keys.slice(0, MAX_RECOVERIES_READ)) {
    if (best && month(key) < best.startedAt.slice(0, 7).replace('-', '/')) break;
    try {
      const stored = await store.getText(key);
      if (!stored) continue;
      const record = JSON.parse(stored.text) as Partial<RecoveryRecord>;
      if (record.schemaVersion !== 1 || typeof record.startedAt !== 'string' || typeof record.finishedAt !== 'string' || !record.timings) {
        throw new Error('not a recovery record of schema version 1');
      }
      if (!best || record.startedAt > best.startedAt) best = record as RecoveryRecord;
    } catch (err) {
      problems.push(`recovery record ${key} unreadable: ${why(err)}`);
    }
  }
  if (!best) return undefined;
  const t = best.timings;
  const seconds = best.mode === 'failover' ? (t.cutOverSeconds ?? t.validatedSeconds) : t.validatedSeconds;
  return {
    at: best.finishedAt,
    mode: best.mode,
    source: best.source,
    ok: best.outcome === 'succeeded',
    ...(seconds !== null && seconds !== undefined ? { seconds } : {}),
    ...(t.rtoMet !== null && t.rtoMet !== undefined ? { withinRto: t.rtoMet } : {}),
  };
}

/** "45s", "12m", "3h 20m", "2d 4h". */
export function shortDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.round(totalSeconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 && s < 600 ? ` ${s % 60}s` : ''}`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)}m` : ''}`;
  return `${Math.floor(s / 86_400)}d${Math.floor((s % 86_400) / 3600) ? ` ${Math.floor((s % 86_400) / 3600)}h` : ''}`;
}

const against = (value: number, target: number): string => `${shortDuration(value)} / ${shortDuration(target)} ${value <= target ? 'ok' : 'OVER'}`;

/** One row of cells per database. */
function cells(s: DatabaseStatus, now: Date): string[] {
  const backup = (b: BackupSummary | undefined) => (b ? `${against(b.ageSeconds, s.rpoSeconds)} (${b.backupClass})` : 'none');
  const test = s.lastRestoreTest
    ? `${s.lastRestoreTest.ok ? 'ok' : 'FAILED'} ${shortDuration(s.lastRestoreTest.seconds)}, ${shortDuration(ageSeconds(s.lastRestoreTest.at, now))} ago`
    : 'never';
  const r = s.lastRecovery;
  const recovery = r
    ? `${r.mode} ${r.source} ${r.ok ? '' : 'FAILED '}${r.seconds !== undefined ? against(r.seconds, s.rtoSeconds) : '-'}, ${shortDuration(ageSeconds(r.at, now))} ago`
    : 'never';
  const estimate = s.estimatedRtoSeconds !== undefined ? against(s.estimatedRtoSeconds, s.rtoSeconds) : 'unknown';
  const alarms = s.alarmsKnown ? (s.alarmsInAlarm.length > 0 ? s.alarmsInAlarm.join(', ') : 'none') : 'n/a';
  return [s.database, backup(s.newestBackup), backup(s.newestVerified), test, recovery, estimate, alarms];
}

const HEADER = ['DATABASE', 'NEWEST BACKUP / RPO', 'NEWEST VERIFIED / RPO', 'LAST RESTORE TEST', 'LAST DRILL/FAILOVER / RTO', 'EST. RTO / RTO', 'ALARMS IN ALARM'];

/**
 * A plain aligned table, one row per database, then each database's problems (one line each).
 * `now` (default: the current time) is what the "… ago" columns count from.
 */
export function renderStatusTable(statuses: DatabaseStatus[], now = new Date()): string {
  const rows = [HEADER, ...statuses.map((s) => cells(s, now))];
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  '));
  const problems = statuses.flatMap((s) => s.problems.map((p) => `  ${s.database}: ${p}`));
  return `${[...lines, ...(problems.length > 0 ? ['', 'problems:', ...problems] : [])].join('\n')}\n`;
}
