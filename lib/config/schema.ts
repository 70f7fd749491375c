/**
 * The pgdr configuration model: one JSON document describing every protected database, its
 * recovery objectives, backup classes, verification policy, failover defaults and paging.
 * Field-level rules live in the zod schemas; rules that relate fields live in rules.ts.
 */
import { z } from 'zod';
import { caBundleProblem, PUBLIC_CAS, RDS_CA_BUNDLE, TLS_MODES } from '../tls-ca';
import { BREAK_GLASS_ARN_RE, BREAK_GLASS_ARN_RULE } from '../iam-arn';
import { HumanDuration, parseDuration } from './duration';
import { parseSchedule } from './schedule';

// Where a restore test restores and the dump formats: the jobs' own lists (container/contract.ts ENV.verifyMode, ENV.dumpFormat).
import { DUMP_FORMATS, VERIFY_MODES } from '../../lambda/shared/env';
export { DUMP_FORMATS, VERIFY_MODES };
export type { DumpFormat, VerifyMode } from '../../lambda/shared/env';

const NAME_RE = /^[a-z][a-z0-9-]{0,30}[a-z0-9]$/;
/** A complete secret ARN, with the 6-character suffix Secrets Manager appends to the name. */
const SECRET_ARN_RE = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;
const SECRET_ARN_RULE = 'must be the complete Secrets Manager secret ARN, with its 6-character suffix (e.g. "...:secret:pgdr/shop-AbCdEf")';
const secretArn = () => z.string().regex(SECRET_ARN_RE, SECRET_ARN_RULE);
const port = z.int().min(1).max(65535).default(5432);
/**
 * How the jobs authenticate the database server. `mode` is the sslmode used when the secret names
 * none (a secret's `sslmode` wins); `caBundle` the CAs verify-ca/verify-full trust: "rds" (the RDS
 * bundle shipped in the tools layer), "public" (Node.js's public CAs) or the path of a PEM file of
 * CA certificates (relative to the working directory of `cdk synth`), copied into the functions.
 */
const tlsSchema = (defaultCaBundle: string) =>
  z
    .strictObject({
      /** `verify-full` (chain and host name), `verify-ca` (chain only), `require` (encrypted, server not authenticated), `disable`. @default "verify-full" */
      mode: z.enum(TLS_MODES).default('verify-full'),
      /** "rds", "public" or a PEM file path. @default "rds" for RDS sources, "public" for external ones */
      caBundle: z
        .string()
        .min(1)
        .superRefine((value, ctx) => {
          if (value === RDS_CA_BUNDLE || value === PUBLIC_CAS) return;
          const problem = caBundleProblem(value);
          if (problem) ctx.addIssue({ code: 'custom', message: `must be "${RDS_CA_BUNDLE}", "${PUBLIC_CAS}" or a PEM file of CA certificates, but the file ${problem}` });
        })
        .default(defaultCaBundle),
    })
    .prefault({});
/** The field `tls` replaced; kept so that an old configuration gets a message saying so. */
const replacedSslmode = z.never({ error: 'was replaced by "tls": { "mode": ..., "caBundle": ... } (see the README, "TLS to the database")' }).optional();

/** A resource name used in S3 keys and AWS resource names. */
const name = (what: string) =>
  z.string().regex(NAME_RE, `${what} must be 2-32 characters of a-z, 0-9 and "-", starting with a letter`);

/** A human duration ("30m", "1h", "7d"), parsed to seconds. */
export const durationSchema = z.string().transform((text, ctx): HumanDuration => {
  const seconds = parseDuration(text);
  if (seconds === undefined) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration such as "90s", "30m", "1h", "1h30m" or "7d"' });
    return z.NEVER;
  }
  return { text, seconds };
});

const timeZoneSchema = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone such as "UTC" or "Europe/Berlin"');

/** An EventBridge Scheduler expression and the time zone it is read in. */
export const scheduleSchema = z
  .strictObject({
    /** `cron(min hour day-of-month month day-of-week year)` or `rate(N unit)`. */
    expression: z.string().describe('EventBridge Scheduler expression: cron(min hour day-of-month month day-of-week year) or rate(N unit)'),
    /** IANA time zone. @default "UTC" */
    timeZone: timeZoneSchema.default('UTC').describe('IANA time zone the expression is read in (default "UTC")'),
  })
  .superRefine((s, ctx) => {
    try {
      parseSchedule(s.expression, s.timeZone);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['expression'], message: (err as Error).message });
    }
  });

/** Storage-class transitions and expiry of one backup class. */
export const retentionSchema = z.strictObject({
  /** Days after creation to move a dump to S3 Standard-IA (S3 minimum 30). @default no transition */
  standardIaAfterDays: z.int().positive().optional(),
  /** Days after creation to move a dump to S3 Glacier Instant Retrieval. @default no transition */
  glacierIrAfterDays: z.int().positive().optional(),
  /** Days after creation to expire a dump. */
  expireAfterDays: z.int().positive().max(36500).describe('Days after creation to expire a dump'),
});

export const backupClassSchema = z.strictObject({
  /** Class name, part of the S3 key (`<db>/<class>/...`). */
  name: name('a backup class name').describe('Class name, part of the S3 key (<db>/<class>/...)'),
  /** When dumps of this class run. @default none: on demand only (`pgdr backup NAME --class CLASS`) */
  schedule: scheduleSchema.optional().describe('When dumps of this class run (none: on demand only)'),
  /** How long dumps of this class are kept and where. */
  retention: retentionSchema,
});

export const smokeQuerySchema = z.strictObject({
  /** A short label, shown in verification records. */
  name: z.string().min(1).max(64),
  /** A read-only SQL query run against the restored database. */
  sql: z.string().min(1),
  /** The query must return at least this many rows. @default 1 */
  minRows: z.int().nonnegative().default(1),
});

export const verificationSchema = z.strictObject({
  /** Run a full restore test on every Nth backup (0: only on the schedule). @default 1 */
  restoreTestEveryNth: z.int().nonnegative().default(1),
  /** Also run a restore test of the newest backup on this schedule. @default none */
  restoreTestSchedule: scheduleSchema.optional(),
  /** Queries run against each restored copy. @default [] */
  smokeQueries: z.array(smokeQuerySchema).default([]),
  /** Secret of another PostgreSQL server for scratch restores (host/port/username/password). @default the source server */
  serverSecretArn: secretArn().optional(),
  /**
   * Where restore tests run: "source" (a scratch database on the source server, needs CREATEDB there),
   * "server" (the server of serverSecretArn) or "ephemeral" (a PostgreSQL the verify job starts for
   * itself and throws away). @default "ephemeral" on the Fargate runner; on Lambda "server" when serverSecretArn is set, else "source"
   */
  mode: z.enum(VERIFY_MODES).optional().describe('Where restore tests run: "source", "server" (serverSecretArn) or "ephemeral" (default for the Fargate runner)'),
});

export const route53TargetSchema = z.strictObject({
  /** Hosted zone holding the record. */
  hostedZoneId: z.string().regex(/^Z[A-Z0-9]{1,31}$/, 'must be a Route 53 hosted zone ID such as "Z0123456789ABC"'),
  /** The CNAME that applications connect to. */
  recordName: z.string().min(1),
  /** TTL of the record. @default "60s" */
  ttl: durationSchema.prefault('60s'),
});

export const cutoverSchema = z.strictObject({
  /** Secrets Manager secret whose host/port the applications read (e.g. the one behind DATABASE_URL). */
  secretArn: secretArn().optional(),
  /** SSM parameter holding the endpoint or connection URL. */
  ssmParameterName: z.string().regex(/^\/[A-Za-z0-9_.\-/]+$/, 'must be an SSM parameter name starting with "/"').optional(),
  /** Route 53 record pointed at the new instance. */
  route53: route53TargetSchema.optional(),
});

export const freshnessQuerySchema = z.strictObject({
  /** A short label, shown in the validation summary. */
  name: z.string().min(1).max(64),
  /** A read-only SQL query returning one timestamp (e.g. `select max(created_at) from applications`). */
  sql: z.string().min(1),
});

export const recoveryValidationSchema = z.strictObject({
  /** A table that lost more than this share of its rows (against the newest verified manifest) fails a pitr/snapshot recovery. @default 10 */
  rowLossTolerancePercent: z.number().min(0).max(100).default(10),
  /** Queries whose newest timestamp must be no older than the backup's time minus the rpo. @default [] */
  freshnessQueries: z.array(freshnessQuerySchema).default([]),
});

export const healthCheckSchema = z.strictObject({
  /** HTTPS URL probed after the cutover until it answers 2xx. */
  url: z.url({ protocol: /^https$/, error: 'must be an https:// URL' }),
  /** How long to wait for a 2xx answer. @default "5m" */
  timeout: durationSchema.refine((d) => d.seconds <= 840, 'must be at most "14m" (one Lambda run)').prefault('5m'),
});

export const failoverSchema = z.strictObject({
  /** Instance class of the recovery instance. @default "db.t4g.medium" */
  instanceClass: z.string().regex(/^db\.[a-z0-9]+\.[a-z0-9]+$/, 'must be an RDS instance class such as "db.t4g.medium"').default('db.t4g.medium'),
  /** DB subnet group of the recovery instance. @default the source's (RDS) or none */
  dbSubnetGroupName: z.string().min(1).optional(),
  /** Security groups of the recovery instance. @default [] */
  securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, 'must be a security group ID such as "sg-0123abcd"')).default([]),
  /** Multi-AZ recovery instance. @default false */
  multiAz: z.boolean().default(false),
  /** pg_restore --jobs of the restore into the recovery instance (1-16). @default the vCPUs of instanceClass (2 to 16) */
  restoreJobs: z.int().min(1, 'must be 1-16 (pg_restore --jobs)').max(16, 'must be 1-16 (pg_restore --jobs)').optional(),
  /** Storage of a recovery instance built from a dump, in GiB. @default 20 */
  allocatedStorageGiB: z.int().min(20).max(65536).default(20),
  /** Where traffic is switched after a validated recovery. @default {} (no cutover) */
  cutover: cutoverSchema.prefault({}),
  /** Wait for a human approval before cutting over. @default true */
  requireApproval: z.boolean().default(true),
  /** How long an approval request waits before the run ends without cutover. @default "1h" */
  approvalTimeout: durationSchema.prefault('1h'),
  /** How the recovered instance is proven before cutover (smoke queries come from `verification`). @default { rowLossTolerancePercent: 10, freshnessQueries: [] } */
  validation: recoveryValidationSchema.prefault({}),
  /** Probed after the cutover; a failure rolls the cutover back. @default none */
  healthCheck: healthCheckSchema.optional(),
  /** The run gives up when the instance is not validated by then (notified once when the rto passes). @default three times the rto, at least "2h" */
  hardTimeout: durationSchema.optional(),
  /** Delete the instance a failed run created: "drill-only" keeps a failed failover's instance for forensics. @default "drill-only" */
  deleteOnFailure: z.enum(['drill-only', 'always', 'never']).default('drill-only'),
});

export const drillSchema = z.strictObject({
  /** When to run an automatic failover drill (mode "drill": never cuts over). @default none */
  schedule: scheduleSchema.optional(),
  /** The recovery source a scheduled drill uses. @default "pitr" for an RDS source with point-in-time recovery, "snapshot" for one without, "dump" for an external source */
  source: z.enum(['pitr', 'snapshot', 'dump']).optional(),
  /** Page when no successful drill happened for this long. @default "90d" */
  maxAge: durationSchema.prefault('90d'),
});

const jobResources = (memoryMiB: number, timeout: string) =>
  z
    .strictObject({
      /** Lambda memory in MiB (CPU scales with it). */
      memoryMiB: z.int().min(512).max(10240).default(memoryMiB),
      /** Lambda timeout, at most 15m. */
      timeout: durationSchema
        .refine((d) => d.seconds <= 900, 'must be at most "15m" (the Lambda limit)')
        .prefault(timeout),
    })
    .prefault({});

export const jobsSchema = z.strictObject({
  /**
   * The dump job's resources. @default { memoryMiB: 1769, timeout: "15m" }: one full vCPU; the job is
   * CPU-bound and costs the same per GiB up to one vCPU while running faster (BENCHMARKS.md "Lambda memory").
   */
  dump: jobResources(1769, '15m'),
  /** The verify job's resources. @default { memoryMiB: 2048, timeout: "15m", ephemeralStorageMiB: 10240 } */
  verify: z
    .strictObject({
      ...jobResources(2048, '15m').unwrap().shape,
      /**
       * Lambda ephemeral storage (/tmp) in MiB. A restore test downloads the decompressed dump
       * there and runs `pg_restore --jobs 2` on the file when it fits (archive + 10 %), else it
       * streams into one pg_restore (slower; the verification record says which ran and why).
       */
      ephemeralStorageMiB: z.int().min(512).max(10240).default(10240),
    })
    .prefault({}),
});

/** Fargate's valid memory sizes (MiB) per CPU size (CPU units, 1024 = 1 vCPU), Linux, platform 1.4.0. */
export const FARGATE_SIZES: Readonly<Record<number, { readonly min: number; readonly max: number; readonly step: number }>> = {
  256: { min: 512, max: 2048, step: 512 },
  512: { min: 1024, max: 4096, step: 1024 },
  1024: { min: 2048, max: 8192, step: 1024 },
  2048: { min: 4096, max: 16384, step: 1024 },
  4096: { min: 8192, max: 30720, step: 1024 },
  8192: { min: 16384, max: 61440, step: 4096 },
  16384: { min: 32768, max: 122880, step: 8192 },
};

/** Whether Fargate runs a task of `cpu` units with `memoryMiB`; undefined when it does, else the rule broken. */
export function fargateSizeProblem(cpu: number, memoryMiB: number): string | undefined {
  const size = FARGATE_SIZES[cpu];
  if (!size) return undefined; // the cpu field reports itself
  if (memoryMiB < size.min || memoryMiB > size.max || (memoryMiB - size.min) % size.step !== 0) {
    const steps = size.min === 512 ? '512, 1024 or 2048' : `${size.min} to ${size.max} in steps of ${size.step}`;
    return `with cpu ${cpu}: Fargate accepts ${steps} MiB there`;
  }
  return undefined;
}

/** vCPUs of a Fargate task of `cpu` units, at least 1 (the default of dumpJobs and the restore jobs). */
export function fargateVcpus(cpu: number): number {
  return Math.max(1, Math.floor(cpu / 1024));
}

export const lambdaRunnerSchema = z.strictObject({
  type: z.literal('lambda'),
});

export const fargateRunnerSchema = z
  .strictObject({
    type: z.literal('fargate'),
    /** CPU units of each task (1024 = 1 vCPU): 256, 512, 1024, 2048, 4096, 8192 or 16384. @default 2048 */
    cpu: z
      .int()
      .refine((n) => n in FARGATE_SIZES, `must be a Fargate CPU size: ${Object.keys(FARGATE_SIZES).join(', ')} (CPU units, 1024 = 1 vCPU)`)
      .default(2048),
    /** Memory of each task in MiB; the combinations Fargate allows depend on cpu. @default 4096 */
    memoryMiB: z.int().positive().default(4096),
    /** Ephemeral storage of each task in GiB (the directory-format dump and the ephemeral server live there). @default 100 */
    ephemeralStorageGiB: z.int().min(21, 'must be at least 21 (Fargate: 21-200 GiB)').max(200, 'must be at most 200 (Fargate: 21-200 GiB)').default(100),
    /** "directory" (pg_dump -Fd --jobs N, one object per file) or "custom" (pg_dump -Fc, one object). @default "directory" */
    dumpFormat: z.enum(DUMP_FORMATS).default('directory'),
    /** pg_dump --jobs of the directory format. @default the task's vCPUs (cpu / 1024, at least 1) */
    dumpJobs: z.int().min(1).max(64).optional(),
  })
  .superRefine((r, ctx) => {
    const problem = fargateSizeProblem(r.cpu, r.memoryMiB);
    if (problem) ctx.addIssue({ code: 'custom', path: ['memoryMiB'], message: `is not a Fargate size: ${r.memoryMiB} MiB ${problem}` });
  });

/** Which engine runs the dump, verify and restore jobs of a database. */
export const runnerSchema = z
  .discriminatedUnion('type', [lambdaRunnerSchema, fargateRunnerSchema])
  .describe('Which engine runs the jobs: "lambda" (default; 15 minutes, 10 GiB) or "fargate" (ECS on Fargate: no time limit, up to 200 GiB of disk)');

const engineMajorVersion = z.int().min(13, 'PostgreSQL 13 or newer is supported').max(18, 'PostgreSQL 18 is the newest known major');

export const rdsSourceSchema = z.strictObject({
  type: z.literal('rds'),
  /** RDS DB instance identifier. */
  instanceIdentifier: z.string().regex(/^[a-zA-Z][a-zA-Z0-9-]{0,62}$/, 'must be an RDS DB instance identifier'),
  /** Secret holding host/port/dbname/username/password of the account pg_dump uses. */
  secretArn: secretArn(),
  /** PostgreSQL major version of the server (selects pg_dump). */
  engineMajorVersion,
  /** TCP port the jobs connect to (opened in their security group). @default 5432 */
  port,
  /** TLS to the server. @default { mode: "verify-full", caBundle: "rds" } */
  tls: tlsSchema(RDS_CA_BUNDLE),
  /** Replaced by `tls`. */
  sslmode: replacedSslmode,
  /** RDS automated backups with point-in-time recovery are on (RPO down to ~5 minutes). @default true */
  pointInTimeRecovery: z.boolean().default(true),
});

export const externalSourceSchema = z.strictObject({
  type: z.literal('external'),
  /** Secret holding host/port/dbname/username/password. */
  secretArn: secretArn(),
  /** PostgreSQL major version of the server (selects pg_dump). */
  engineMajorVersion,
  /** TCP port the jobs connect to (opened in their security group). @default 5432 */
  port,
  /** TLS to the server. @default { mode: "verify-full", caBundle: "public" } */
  tls: tlsSchema(PUBLIC_CAS),
  /** Replaced by `tls`. */
  sslmode: replacedSslmode,
});

export const databaseSchema = z.strictObject({
  /** Name of the protected database in pgdr (S3 prefix, metric dimension). */
  name: name('a database name').describe('Name of the protected database in pgdr (S3 prefix, metric dimension)'),
  /** Free text for the runbook. @default none */
  description: z.string().max(500).optional(),
  /** Where the database lives. */
  source: z.discriminatedUnion('type', [rdsSourceSchema, externalSourceSchema]).describe('Where the database lives: an RDS instance ("rds") or any PostgreSQL reached through a secret ("external")'),
  /** Recovery point objective: the most data (time) the team accepts to lose. */
  rpo: durationSchema.describe('Recovery point objective: the most data (time) the team accepts to lose, e.g. "24h"'),
  /** Recovery time objective: the longest the team accepts to be down. */
  rto: durationSchema.describe('Recovery time objective: the longest the team accepts to be down, e.g. "1h"'),
  /** Backup classes (e.g. "full" daily, "frequent" hourly). */
  backupClasses: z.array(backupClassSchema).min(1, 'at least one backup class is needed').describe('Backup classes (e.g. "full" daily, "frequent" hourly)'),
  /** How backups are proven restorable. @default { restoreTestEveryNth: 1, smokeQueries: [] } */
  verification: verificationSchema.prefault({}),
  /** How a recovery instance is built and traffic switched. @default see failover fields */
  failover: failoverSchema.prefault({}),
  /** Failover drills. @default { maxAge: "90d" } */
  drill: drillSchema.prefault({}),
  /** Lambda resources of the jobs of this database (the Lambda runner). @default see jobs fields */
  jobs: jobsSchema.prefault({}),
  /** Which engine runs the dump, verify and restore jobs. @default { type: "lambda" } */
  runner: runnerSchema.prefault({ type: 'lambda' }),
});

export const pagingTargetsSchema = z.strictObject({
  /** E-mail addresses subscribed to the topic. @default [] */
  emails: z.array(z.email('must be an e-mail address')).default([]),
  /** HTTPS endpoints (pager integrations) subscribed to the topic. @default [] */
  httpsEndpoints: z.array(z.url({ protocol: /^https$/, error: 'must be an https:// URL' })).default([]),
  /**
   * HTTPS endpoints that carry a secret (an API key in the URL), kept in Secrets Manager: the secret
   * (or its JSON field) holds the https:// URL, resolved by CloudFormation at deploy time. @default []
   */
  httpsEndpointSecrets: z.array(z.strictObject({ secretArn: secretArn(), jsonField: z.string().min(1).optional() })).default([]),
});

export const pagingSchema = z.strictObject({
  /** Recovery objective broken or a backup/restore/failover failed. @default no subscribers */
  critical: pagingTargetsSchema.prefault({}),
  /** Recovery objective at risk. @default no subscribers */
  warning: pagingTargetsSchema.prefault({}),
});

export const vaultSchema = z.strictObject({
  /** Object Lock default retention applied to every new object. @default { mode: "GOVERNANCE", days: 7 } */
  objectLock: z
    .strictObject({
      /** GOVERNANCE (privileged users may shorten it) or COMPLIANCE (nobody can). @default "GOVERNANCE" */
      mode: z.enum(['GOVERNANCE', 'COMPLIANCE']).default('GOVERNANCE'),
      /** Days every object version is protected from deletion. @default 7 */
      days: z.int().min(1).max(36500).default(7),
    })
    .prefault({}),
  /** Days a replaced or deleted object version is kept. @default 30 */
  noncurrentVersionExpirationDays: z.int().min(1).max(36500).default(30),
  /** What happens to the buckets when the stack is deleted ("destroy" deletes them only if empty). The KMS key is always kept. @default "retain" */
  removalPolicy: z.enum(['retain', 'destroy']).default('retain'),
  /** The only principal that may schedule the deletion of the vault's KMS key or disable it (an IAM role, user or account root ARN). @default the account's root user */
  breakGlassPrincipalArn: z.string().regex(BREAK_GLASS_ARN_RE, BREAK_GLASS_ARN_RULE).optional(),
});

export const networkSchema = z.strictObject({
  /** The VPC the jobs run in (one that reaches the databases). */
  vpcId: z.string().regex(/^vpc-[0-9a-f]{8,17}$/, 'must be a VPC ID such as "vpc-0123abcd"'),
  /** Availability zones of the subnets, in the same order. */
  availabilityZones: z.array(z.string().regex(/^[a-z]{2}-[a-z]+-\d[a-z]$/, 'must be an availability zone such as "eu-west-1a"')).min(1),
  /** Private subnets (with a route to S3 and Secrets Manager) the jobs run in. */
  privateSubnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, 'must be a subnet ID such as "subnet-0123abcd"')).min(1),
});

export const pgToolsSchema = z.strictObject({
  /** Existing Lambda layers with pg_dump/pg_restore/psql, by PostgreSQL major ("16": "arn:..."). @default {} */
  layerArns: z
    .record(z.string().regex(/^1[3-8]$/, 'keys must be PostgreSQL majors 13-18'), z.string().regex(/^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]+:\d+$/, 'must be a Lambda layer version ARN'))
    .default({}),
  /** Local directories laid out as bin/ + lib/ (scripts/pack-pg-tools.sh), by PostgreSQL major. @default {} */
  directories: z.record(z.string().regex(/^1[3-8]$/, 'keys must be PostgreSQL majors 13-18'), z.string().min(1)).default({}),
});

export const configSchema = z.strictObject({
  /** JSON schema reference for editors; ignored. */
  $schema: z.string().optional().describe('JSON Schema reference for editors; ignored'),
  /** CloudFormation stack name. @default "Pgdr" */
  stackName: z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'must be a CloudFormation stack name').default('Pgdr').describe('CloudFormation stack name (default "Pgdr")'),
  /** The backup bucket. @default see vault fields */
  vault: vaultSchema.prefault({}),
  /** Existing network for the jobs. @default a new VPC with isolated subnets and endpoints */
  network: networkSchema.optional(),
  /** Where the PostgreSQL client tools layer of each major comes from. @default built from Amazon Linux 2023 packages */
  pgTools: pgToolsSchema.prefault({}),
  /** The protected databases. */
  databases: z.array(databaseSchema).min(1, 'at least one database is needed').describe('The protected databases'),
  /** Who is paged. @default no subscribers */
  paging: pagingSchema.prefault({}).describe('Who is paged: e-mail and HTTPS subscribers of the critical and warning topics'),
});

export type PgdrConfig = z.output<typeof configSchema>;
export type DatabaseConfig = PgdrConfig['databases'][number];
export type BackupClassConfig = DatabaseConfig['backupClasses'][number];
export type RetentionConfig = BackupClassConfig['retention'];
export type ScheduleConfig = BackupClassConfig['schedule'];
export type VaultConfig = PgdrConfig['vault'];
export type RunnerConfig = DatabaseConfig['runner'];
export type FargateRunnerConfig = Extract<RunnerConfig, { type: 'fargate' }>;
