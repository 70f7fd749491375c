/**
 * The CloudFormation outputs of a pgdr stack that the CLI reads (`pgdr status|backup|verify|
 * failover|approve|reject|runbook` against AWS), in ONE place: the stack writes them with these
 * names (lib/pgdr-stack.ts), the CLI parses them with {@link parseStackOutputs}.
 *
 * Stack-wide: `FailoverStateMachine` (ARN), `CriticalTopic` (ARN), `BackupBucket` (name).
 * Per database: one output `Database<Name><hash>` ({@link databaseOutputId}) whose value is the JSON
 * of a {@link DatabaseOutputs}: the names of the database's dump, verify and monitor functions
 * and its backup classes (for a database on Fargate a {@link FargateDatabaseOutputs}: its cluster,
 * task definitions, subnets and security groups instead of the dump and verify functions). The reader does not rebuild the id: it takes every output whose id starts
 * with {@link DATABASE_OUTPUT_PREFIX} and keys it by the `database` inside.
 */
import { createHash } from 'node:crypto';
import { EXIT } from '../cli/contract';
import { CliError } from '../cli/errors';

/** Names of the stack-wide outputs. */
export const OUTPUTS = {
  failoverStateMachine: 'FailoverStateMachine',
  criticalTopic: 'CriticalTopic',
  backupBucket: 'BackupBucket',
} as const;

/** Logical ids of the per-database outputs start with this. */
export const DATABASE_OUTPUT_PREFIX = 'Database';

/** What a per-database output holds (function NAMES, not ARNs). */
export interface DatabaseOutputs {
  readonly database: string;
  /** The dump Lambda of the database: invoked with `{"backupClass": "<class>"}`. */
  readonly dumpFunction: string;
  /** The configured backup classes of the database. */
  readonly backupClasses: string[];
  /** The verify Lambda: `{"restoreTest": true}` or an S3 Object Created event of a manifest. */
  readonly verifyFunction: string;
  /** The recovery-objectives monitor Lambda. */
  readonly monitorFunction: string;
}

/** What a per-database output holds for a database whose jobs run on ECS Fargate (`runner: "fargate"`): no dump or verify function. */
export interface FargateDatabaseOutputs {
  readonly database: string;
  readonly runner: 'fargate';
  readonly backupClasses: string[];
  readonly monitorFunction: string;
  /** How to start its jobs: ECS RunTask on `cluster` (launch type FARGATE) with a job's task definition, the subnets and that job's security group. */
  readonly fargate: {
    readonly cluster: string;
    /** The one container of every task definition (container overrides name it). */
    readonly containerName: string;
    readonly subnets: string[];
    /** Task definition ARN and security group id per job (dump: env PGDR_BACKUP_CLASS; verify: PGDR_MANIFEST_KEY or PGDR_RESTORE_TEST=true). */
    readonly jobs: Record<'dump' | 'verify' | 'restore', { readonly taskDefinition: string; readonly securityGroup: string }>;
  };
}

/** The parsed outputs of a deployed pgdr stack. */
export interface StackOutputs {
  readonly stackName: string;
  readonly failoverStateMachine: string;
  readonly criticalTopic: string;
  readonly backupBucket: string;
  /** Keyed by database name. */
  readonly databases: Record<string, DatabaseOutputs | FargateDatabaseOutputs>;
}

/**
 * The logical id of a database's output: `Database` + the name's letters and digits (capitalised
 * after a `-`/`_`) + 8 hex digits of the name's SHA-256, so `a-b` and `ab` never share an id.
 */
export function databaseOutputId(database: string): string {
  const readable = database
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0].toUpperCase() + part.slice(1))
    .join('');
  return `${DATABASE_OUTPUT_PREFIX}${readable}${createHash('sha256').update(database, 'utf8').digest('hex').slice(0, 8)}`;
}

const olderPgdr = 'deployed with an older pgdr? run npx cdk deploy';

/** Parses the outputs of `stackName` (OutputKey → OutputValue); a missing or unreadable output is a CliError (EXIT.environment). */
export function parseStackOutputs(stackName: string, outputs: Record<string, string>): StackOutputs {
  const required = (name: string): string => {
    const value = outputs[name];
    if (!value) throw new CliError(`stack ${stackName} has no output ${name}: ${olderPgdr}`, EXIT.environment);
    return value;
  };
  const databases: Record<string, DatabaseOutputs | FargateDatabaseOutputs> = {};
  for (const [key, value] of Object.entries(outputs)) {
    if (!key.startsWith(DATABASE_OUTPUT_PREFIX)) continue;
    let parsed: Partial<DatabaseOutputs>;
    try {
      parsed = JSON.parse(value) as Partial<DatabaseOutputs>;
    } catch {
      throw new CliError(`stack ${stackName}: output ${key} is not JSON: ${olderPgdr}`, EXIT.environment);
    }
    const fargate = parsed as Partial<FargateDatabaseOutputs>;
    if (fargate.runner === 'fargate') {
      const fine = typeof fargate.database === 'string' && typeof fargate.monitorFunction === 'string' && Array.isArray(fargate.backupClasses) && typeof fargate.fargate?.cluster === 'string';
      if (!fine) throw new CliError(`stack ${stackName}: output ${key} lacks database, backupClasses, monitorFunction or fargate.cluster: ${olderPgdr}`, EXIT.environment);
      databases[fargate.database!] = fargate as FargateDatabaseOutputs;
      continue;
    }
    const ok =
      typeof parsed.database === 'string' &&
      typeof parsed.dumpFunction === 'string' &&
      typeof parsed.verifyFunction === 'string' &&
      typeof parsed.monitorFunction === 'string' &&
      Array.isArray(parsed.backupClasses) &&
      parsed.backupClasses.every((c) => typeof c === 'string');
    if (!ok) throw new CliError(`stack ${stackName}: output ${key} lacks database, dumpFunction, backupClasses, verifyFunction or monitorFunction: ${olderPgdr}`, EXIT.environment);
    databases[parsed.database!] = parsed as DatabaseOutputs;
  }
  return {
    stackName,
    failoverStateMachine: required(OUTPUTS.failoverStateMachine),
    criticalTopic: required(OUTPUTS.criticalTopic),
    backupBucket: required(OUTPUTS.backupBucket),
    databases,
  };
}

/**
 * The Lambda jobs of `database`, or a CliError: EXIT.environment naming the stack when the stack has
 * none for it, EXIT.usage with the ECS RunTask command line when its jobs run on Fargate.
 */
export function databaseOutputs(outputs: StackOutputs, database: string): DatabaseOutputs {
  const found = outputs.databases[database];
  if (!found) throw new CliError(`stack ${outputs.stackName} has no output for database ${database}: ${olderPgdr}`, EXIT.environment);
  if ('runner' in found) {
    const dump = found.fargate.jobs.dump;
    throw new CliError(
      `database ${database} runs its jobs on ECS Fargate, which this CLI does not start yet: run the task yourself, e.g. ` +
        `aws ecs run-task --cluster ${found.fargate.cluster} --launch-type FARGATE --task-definition ${dump.taskDefinition} ` +
        `--network-configuration 'awsvpcConfiguration={subnets=[${found.fargate.subnets.join(',')}],securityGroups=[${dump.securityGroup}]}' ` +
        `--overrides '{"containerOverrides":[{"name":"${found.fargate.containerName}","environment":[{"name":"PGDR_BACKUP_CLASS","value":"${found.backupClasses[0] ?? ''}"}]}]}'`,
      EXIT.usage,
    );
  }
  return found;
}
