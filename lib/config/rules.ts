/**
 * Rules that relate several fields of a configuration. Each returns issues that name the
 * field path, the rule and the value received.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { formatSeconds } from './duration';
import { longestGapSeconds, parseSchedule } from './schedule';
import { DatabaseConfig, fargateVcpus, PgdrConfig, VerifyMode } from './schema';
import { RDS_CA_BUNDLE, RDS_CA_BUNDLE_IN_LAYER } from '../tls-ca';

/** One broken rule. */
export interface RuleIssue {
  readonly path: (string | number)[];
  readonly message: string;
}

/** RDS uploads transaction logs to S3 every five minutes: the best PITR can promise. */
export const RDS_PITR_RPO_SECONDS = 300;
/** PostgreSQL majors Amazon Linux 2023 packages, from which the default tools layer is built (lib/pg-tools.ts uses this list too). */
export const DEFAULT_TOOLS_MAJORS: readonly number[] = [15, 16, 17];

/** S3 refuses a lifecycle transition to Standard-IA earlier than 30 days after creation. */
export const S3_STANDARD_IA_MIN_DAYS = 30;
/** S3 wants an object to stay 30 days in Standard-IA before it moves on. */
export const S3_DAYS_IN_IA_BEFORE_NEXT = 30;

export function crossFieldIssues(config: PgdrConfig): RuleIssue[] {
  const issues: RuleIssue[] = [];
  for (const [major, dir] of Object.entries(config.pgTools.directories)) {
    if (!existsSync(join(dir, 'bin', 'pg_dump'))) {
      issues.push({ path: ['pgTools', 'directories', major], message: 'must be a directory holding bin/pg_dump and lib/ (made by scripts/pack-pg-tools.sh)' });
    }
  }
  const seen = new Map<string, number>();
  config.databases.forEach((db, i) => {
    const at = (...rest: (string | number)[]) => ['databases', i, ...rest];
    if (seen.has(db.name)) {
      issues.push({ path: at('name'), message: `duplicate database name, already used by databases[${seen.get(db.name)}]` });
    } else {
      seen.set(db.name, i);
    }

    const classSeen = new Map<string, number>();
    db.backupClasses.forEach((cls, j) => {
      if (classSeen.has(cls.name)) {
        issues.push({ path: at('backupClasses', j, 'name'), message: `duplicate backup class name, already used by backupClasses[${classSeen.get(cls.name)}]` });
      } else {
        classSeen.set(cls.name, j);
      }
      issues.push(...retentionIssues(cls.retention, db.rpo.seconds).map((x) => ({ ...x, path: at('backupClasses', j, 'retention', ...x.path) })));
    });

    const major = db.source.engineMajorVersion;
    if (!DEFAULT_TOOLS_MAJORS.includes(major) && !config.pgTools.layerArns[String(major)] && !config.pgTools.directories[String(major)]) {
      issues.push({
        path: at('source', 'engineMajorVersion'),
        message: `has no PostgreSQL client tools: the default layer is built for ${DEFAULT_TOOLS_MAJORS.join(', ')}; set pgTools.layerArns["${major}"] or pgTools.directories["${major}"]`,
      });
    }

    const toolsDir = config.pgTools.directories[String(major)];
    if (db.source.tls.caBundle === RDS_CA_BUNDLE && toolsDir && existsSync(join(toolsDir, 'bin', 'pg_dump')) && !existsSync(join(toolsDir, RDS_CA_BUNDLE_IN_LAYER))) {
      issues.push({
        path: at('source', 'tls', 'caBundle'),
        message: `is "${RDS_CA_BUNDLE}" (the default for RDS sources), which needs the RDS CA bundle in the tools layer, but pgTools.directories["${major}"] has no ${RDS_CA_BUNDLE_IN_LAYER}: pack it with scripts/pack-pg-tools.sh --ca-bundle global-bundle.pem, or set a PEM file`,
      });
    }

    const usesPitr = db.source.type === 'rds' && db.source.pointInTimeRecovery;
    if (usesPitr) {
      if (db.rpo.seconds < RDS_PITR_RPO_SECONDS) {
        issues.push({
          path: at('rpo'),
          message: `cannot be met: RDS point-in-time recovery loses up to ${formatSeconds(RDS_PITR_RPO_SECONDS)} (transaction logs are uploaded every 5 minutes)`,
        });
      }
    } else {
      const schedules = db.backupClasses.flatMap((c) => (c.schedule ? [parseSchedule(c.schedule.expression, c.schedule.timeZone)] : []));
      if (schedules.length === 0) {
        issues.push({ path: at('backupClasses'), message: 'cannot meet the rpo: no backup class has a schedule (and no point-in-time recovery)' });
        return;
      }
      const gap = longestGapSeconds(schedules);
      if (db.rpo.seconds < gap) {
        const why = db.source.type === 'rds' ? ' and source.pointInTimeRecovery is false' : '';
        issues.push({
          path: at('rpo'),
          message: `cannot be met: the backup schedules leave up to ${formatSeconds(gap)} between two dumps${why}`,
        });
      }
    }

    const drillSource = db.drill.source;
    if (drillSource && drillSource !== 'dump' && (db.source.type !== 'rds' || (drillSource === 'pitr' && !db.source.pointInTimeRecovery))) {
      issues.push({
        path: at('drill', 'source'),
        message: `is "${drillSource}", which needs an RDS source${drillSource === 'pitr' ? ' with pointInTimeRecovery' : ''}; use "dump" (received "${drillSource}")`,
      });
    }

    const hard = db.failover.hardTimeout;
    if (hard && hard.seconds < db.rto.seconds) {
      issues.push({ path: at('failover', 'hardTimeout'), message: `is shorter than the rto (${formatSeconds(db.rto.seconds)}): a recovery would be abandoned before its objective passed (received "${hard.text}")` });
    }

    const mode = db.verification.mode;
    if (mode === 'server' && !db.verification.serverSecretArn) {
      issues.push({ path: at('verification', 'mode'), message: 'is "server", which restores into the server of verification.serverSecretArn, and no serverSecretArn is set' });
    }
    if (db.verification.serverSecretArn && mode && mode !== 'server') {
      issues.push({ path: at('verification', 'serverSecretArn'), message: `is set but verification.mode is "${mode}", which does not use it: remove it or set mode "server"` });
    }

    if (db.verification.restoreTestEveryNth === 0 && !db.verification.restoreTestSchedule) {
      issues.push({
        path: at('verification', 'restoreTestEveryNth'),
        message: 'is 0 and no restoreTestSchedule is set: no backup would ever be restore-tested',
      });
    }
  });
  return issues;
}

/**
 * Where a database's restore tests run: the configured `verification.mode`, else "ephemeral" on the
 * Fargate runner, else (Lambda, as before issue 11) "server" when a serverSecretArn is set and "source" otherwise.
 */
export function verificationModeOf(db: Pick<DatabaseConfig, 'verification' | 'runner'>): VerifyMode {
  if (db.verification.mode) return db.verification.mode;
  if (db.runner.type === 'fargate') return 'ephemeral';
  return db.verification.serverSecretArn ? 'server' : 'source';
}

/** pg_dump --jobs of a Fargate database's directory-format dumps: the configured dumpJobs, else the task's vCPUs. */
export function fargateDumpJobs(runner: Extract<DatabaseConfig['runner'], { type: 'fargate' }>): number {
  return runner.dumpJobs ?? fargateVcpus(runner.cpu);
}

function retentionIssues(r: PgdrConfig['databases'][number]['backupClasses'][number]['retention'], rpoSeconds: number): RuleIssue[] {
  const issues: RuleIssue[] = [];
  if (r.standardIaAfterDays !== undefined && r.standardIaAfterDays < S3_STANDARD_IA_MIN_DAYS) {
    issues.push({ path: ['standardIaAfterDays'], message: `must be at least ${S3_STANDARD_IA_MIN_DAYS} (S3 minimum for a transition to Standard-IA)` });
  }
  if (r.standardIaAfterDays !== undefined && r.glacierIrAfterDays !== undefined && r.glacierIrAfterDays < r.standardIaAfterDays + S3_DAYS_IN_IA_BEFORE_NEXT) {
    issues.push({
      path: ['glacierIrAfterDays'],
      message: `must be at least standardIaAfterDays + ${S3_DAYS_IN_IA_BEFORE_NEXT} = ${r.standardIaAfterDays + S3_DAYS_IN_IA_BEFORE_NEXT} (S3 keeps an object 30 days in Standard-IA before the next transition)`,
    });
  }
  const lastTransition = Math.max(r.standardIaAfterDays ?? 0, r.glacierIrAfterDays ?? 0);
  if (lastTransition > 0 && r.expireAfterDays <= lastTransition) {
    issues.push({ path: ['expireAfterDays'], message: `must be greater than the last transition day (${lastTransition})` });
  }
  if (r.expireAfterDays * 86400 < rpoSeconds) {
    issues.push({ path: ['expireAfterDays'], message: `is shorter than the database's rpo (${formatSeconds(rpoSeconds)}): dumps would expire before they are needed` });
  }
  return issues;
}

/**
 * vCPUs of an RDS instance class from its size (`db.<family>.<size>`): xlarge 4, Nxlarge 4 × N, the
 * smaller sizes (micro to large) at most 2; undefined for a size this rule does not know (metal).
 */
export function instanceClassVcpus(instanceClass: string): number | undefined {
  const size = instanceClass.split('.')[2] ?? '';
  if (['micro', 'small', 'medium', 'large'].includes(size)) return 2;
  const x = /^(\d*)xlarge$/.exec(size);
  return x ? 4 * Number(x[1] || 1) : undefined;
}

/**
 * pg_restore --jobs of the failover's restore into a new instance: the configured
 * `failover.restoreJobs`, else the vCPUs of `failover.instanceClass` (2 to 16; 2 when the size is
 * unknown). The new instance serves nothing else while it is filled: one job per vCPU keeps its
 * cores busy (the restore is CPU-bound in the server), where a fixed 2 left a 16-vCPU instance at
 * an eighth of its speed.
 */
export function failoverRestoreJobs(failover: Pick<DatabaseConfig['failover'], 'instanceClass' | 'restoreJobs'>): number {
  return failover.restoreJobs ?? Math.min(16, Math.max(2, instanceClassVcpus(failover.instanceClass) ?? 2));
}
