import { Aws, Duration, Size, Stack, TimeZone, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { CONTAINER_NAME, ENV, IMAGE_PATHS, Job } from '../container/contract';
import type { BackupVault } from './backup-vault';
import type { VerifyMode } from './config';
import { DumpSchedule, dumpJobMetric } from './dump-job';
import { IMAGE_RDS_CA_BUNDLE, JobImage } from './job-image';
import { encryptedLogGroup } from './log-encryption';
import { acknowledgeCompliance } from './nag';
import { deadLetterQueue, JobTls, jobSecurityGroup, jobTls } from './pgdr-function';
import { PgdrMetricOptions } from './pgdr-metrics';
import { grantRecoveryInstanceSecrets } from './recovery-jobs';
import { newManifestPattern, SmokeQuery, verificationPolicy, verifyJobMetric } from './verify-job';

/** Fargate's ephemeral storage range (GiB). */
const MIN_STORAGE_GIB = 21;
const MAX_STORAGE_GIB = 200;

/** Properties of {@link FargateJobs}. */
export interface FargateJobsProps {
  /** pgdr database name (S3 prefix, metric dimension, task family). */
  readonly database: string;
  /** The stack's ECS cluster (container insights on). */
  readonly cluster: ecs.ICluster;
  /** The job image of the database's PostgreSQL major. */
  readonly image: JobImage;
  /** Secret with host/port/dbname/username/password of the database server. */
  readonly secret: secretsmanager.ISecret;
  /** The backup vault. */
  readonly vault: BackupVault;
  /** Subnets the tasks run in (the Lambda jobs' subnets). @default the cluster VPC's private subnets */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** TLS to the database server (a PEM file must have been given to the image's caBundleFiles). @default { mode: "verify-full", caBundle: "public" } */
  readonly tls?: JobTls;
  /** Port of the database server. @default 5432 */
  readonly databasePort?: number;
  /** CPU units of each task (1024 = 1 vCPU). @default 2048 */
  readonly cpu?: number;
  /** Memory of each task; the combinations Fargate allows depend on cpu. @default Size.gibibytes(4) */
  readonly memory?: Size;
  /** Ephemeral storage of each task, 21-200 GiB. @default Size.gibibytes(100) */
  readonly ephemeralStorage?: Size;
  /** pg_dump format: "directory" (pg_dump -Fd --jobs) or "custom". @default "directory" */
  readonly dumpFormat?: 'directory' | 'custom';
  /** pg_dump --jobs of the directory format, and pg_restore --jobs of the verify job. @default the task's vCPUs */
  readonly parallelJobs?: number;
  /** pg_restore --jobs of the restore task (into a recovery instance: the stack gives its vCPUs, config/rules.ts failoverRestoreJobs). @default parallelJobs */
  readonly restoreJobs?: number;
  /** Where restore tests run. @default "ephemeral" */
  readonly verifyMode?: VerifyMode;
  /** Secret of the server for verifyMode "server". @default none */
  readonly verificationServerSecret?: secretsmanager.ISecret;
  /** One schedule per scheduled backup class. @default [] (on demand only) */
  readonly schedules?: DumpSchedule[];
  /** Restore-test every Nth backup (0: only on the schedule). @default 1 */
  readonly restoreTestEveryNth?: number;
  /** Also restore-test the newest backup on this schedule. @default none */
  readonly restoreTestSchedule?: { readonly expression: string; readonly timeZone?: string };
  /** Queries run against each restored copy. @default [] */
  readonly smokeQueries?: SmokeQuery[];
  /** The application's secret the cutover switches (the restore job gives its login its password back). @default none */
  readonly cutoverSecret?: secretsmanager.ISecret;
  /** Ports of the recovery instances the restore job fills. @default [5432] */
  readonly recoveryPorts?: number[];
}

/** One job kind of a database on Fargate. */
export interface FargateJob {
  /** The task definition (family `<stack>-<database>-<job>`), one container named {@link CONTAINER_NAME}. */
  readonly taskDefinition: ecs.FargateTaskDefinition;
  /** The job's security group (egress to HTTPS and the PostgreSQL ports); pass it to RunTask. */
  readonly securityGroup: ec2.SecurityGroup;
  /** The role the job's code runs with. */
  readonly taskRole: iam.IRole;
}

/**
 * The dump, verify and restore jobs of one database on ECS Fargate (issue 11): one task definition
 * per job kind (each with a task role that holds exactly that job's grants, the same the Lambda job
 * has), all from the database's {@link JobImage}, in the Lambda jobs' subnets with the same security
 * group rules, logging through awslogs into a KMS-encrypted log group (the cores' EMF metrics work
 * from there), on the task's ephemeral storage with a read-only root file system.
 *
 * Runs: EventBridge Scheduler starts the dump per backup class (the class as a container override in
 * the schedule's input, which Scheduler reads as the RunTask TaskOverride) and the restore test; the
 * S3 → EventBridge rule of new manifests starts a verify task with PGDR_MANIFEST_KEY from the event.
 * Deliveries that fail for good land in {@link deadLetterQueue}; so does every task of these
 * definitions that stops without having run to a reported end (never started, killed, out of
 * memory: exit code other than 0 and 1), which the database's dead-letters alarm watches.
 */
export class FargateJobs extends Construct {
  readonly cluster: ecs.ICluster;
  readonly dump: FargateJob;
  readonly verify: FargateJob;
  /** The restore job of the failover workflow (`ecs:runTask.sync`): command `restore`, event in PGDR_EVENT, result at PGDR_RESULT_KEY. */
  readonly restore: FargateJob;
  /** The role every task of this database is started with (pulls the image, writes the logs). */
  readonly executionRole: iam.Role;
  /** The subnets the tasks run in (RunTask's awsvpcConfiguration). */
  readonly subnets: ec2.SubnetSelection;
  /** Failed schedule and rule deliveries, and tasks that stopped without a reported end. */
  readonly deadLetterQueue: sqs.Queue;
  /** The rule that starts a verify task for each new manifest of the database. */
  readonly manifestRule: events.Rule;
  /** The rule that routes tasks stopped abnormally to the dead-letter queue. */
  readonly stoppedTaskRule: events.Rule;
  readonly schedules: scheduler.Schedule[] = [];
  /** pg_dump/pg_restore --jobs of the tasks. */
  readonly parallelJobs: number;
  private readonly database: string;
  private readonly schedulerRole: iam.Role;

  constructor(scope: Construct, id: string, props: FargateJobsProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const cpu = props.cpu ?? 2048;
    const memoryMiB = (props.memory ?? Size.gibibytes(4)).toMebibytes();
    const storageGiB = (props.ephemeralStorage ?? Size.gibibytes(100)).toGibibytes();
    if (!Number.isInteger(storageGiB) || storageGiB < MIN_STORAGE_GIB || storageGiB > MAX_STORAGE_GIB) {
      throw new Error(`ephemeralStorage: must be ${MIN_STORAGE_GIB}-${MAX_STORAGE_GIB} GiB, whole GiB (Fargate) (received ${storageGiB} GiB)`);
    }
    const seen = new Set<string>();
    for (const [i, s] of (props.schedules ?? []).entries()) {
      if (seen.has(s.backupClass)) throw new Error(`schedules[${i}].backupClass: must be unique (received "${s.backupClass}" twice)`);
      seen.add(s.backupClass);
    }
    const verifyMode = props.verifyMode ?? 'ephemeral';
    if (verifyMode === 'server' && !props.verificationServerSecret) throw new Error('verifyMode: "server" needs verificationServerSecret (received "server")');
    this.parallelJobs = props.parallelJobs ?? Math.max(1, Math.floor(cpu / 1024));
    if (!Number.isInteger(this.parallelJobs) || this.parallelJobs < 1) throw new Error(`parallelJobs: must be a whole number ≥ 1 (received ${this.parallelJobs})`);
    this.database = props.database;
    this.cluster = props.cluster;
    this.subnets = props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };

    this.executionRole = new iam.Role(this, 'ExecutionRole', {
      assumedBy: tasksPrincipal(),
      description: `ECS starting the pgdr Fargate jobs of ${props.database} (image pull, logs)`,
    });
    Validations.of(this.executionRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ecr:GetAuthorizationToken, which ECS needs to pull the job image, has no resource-level permissions; the layer and image reads name the one job image repository.',
    });

    const sourceTls = containerTls(props.tls, props.image);
    // Recovery instances are RDS: authenticated with the RDS CA bundle the image carries.
    const recoveryTls = containerTls({ mode: 'verify-full', caBundle: 'rds' }, props.image);
    const common = {
      // Lambda sets it for the handlers; a task gets it here (the SDK clients need it, the metadata endpoint does not give it).
      AWS_REGION: Aws.REGION,
      POWERTOOLS_METRICS_NAMESPACE: 'PgDr',
      [ENV.database]: props.database,
      [ENV.pgBin]: IMAGE_PATHS.pgBin,
      [ENV.bucket]: props.vault.bucket.bucketName,
      [ENV.kmsKeyArn]: props.vault.key.keyArn,
      [ENV.secretArn]: props.secret.secretArn,
      [ENV.workDir]: IMAGE_PATHS.workDir,
    };
    const sourcePort = props.databasePort ?? 5432;

    this.dump = this.job('dump', props, cpu, memoryMiB, storageGiB, [sourcePort], {
      ...common,
      ...sourceTls,
      [ENV.dumpFormat]: props.dumpFormat ?? 'directory',
      [ENV.dumpJobs]: String(this.parallelJobs),
    });
    props.secret.grantRead(this.dump.taskRole);
    props.vault.grantWriteDumps(this.dump.taskRole, props.database);

    this.verify = this.job('verify', props, cpu, memoryMiB, storageGiB, [sourcePort, ...(props.verificationServerSecret ? [5432] : [])], {
      ...common,
      ...sourceTls,
      [ENV.verification]: verificationPolicy(props.restoreTestEveryNth, props.smokeQueries),
      [ENV.verifyMode]: verifyMode,
      [ENV.pgServerBin]: IMAGE_PATHS.pgBin,
      [ENV.restoreJobs]: String(this.parallelJobs),
      ...(props.verificationServerSecret ? { [ENV.verifySecretArn]: props.verificationServerSecret.secretArn } : {}),
    });
    props.secret.grantRead(this.verify.taskRole);
    props.vault.grantReadDumps(this.verify.taskRole, props.database);
    props.vault.grantWriteDumps(this.verify.taskRole, props.database);
    props.verificationServerSecret?.grantRead(this.verify.taskRole);

    this.restore = this.job('restore', props, cpu, memoryMiB, storageGiB, props.recoveryPorts ?? [5432], {
      ...common,
      ...recoveryTls,
      [ENV.restoreJobs]: String(props.restoreJobs ?? this.parallelJobs),
    });
    props.secret.grantRead(this.restore.taskRole);
    props.vault.grantReadDumps(this.restore.taskRole, props.database);
    // The result document at PGDR_RESULT_KEY (container/contract.ts), under the database's prefix.
    props.vault.grantWriteDumps(this.restore.taskRole, props.database);
    grantRecoveryInstanceSecrets(this.restore.taskRole as iam.Role, props.database);
    props.cutoverSecret?.grantRead(this.restore.taskRole);

    this.deadLetterQueue = deadLetterQueue(
      this,
      `This queue is itself the dead-letter queue of the Fargate jobs of ${props.database} (failed schedule and rule deliveries, tasks stopped abnormally; kept 14 days); the dead-letters alarm of the database warns as soon as it is not empty.`,
    );

    // Scheduler: dumps per class, the restore test. One role for all schedules of the database.
    this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
      description: `EventBridge Scheduler starting the pgdr Fargate jobs of ${props.database}`,
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': stack.account } } }),
    });
    for (const s of props.schedules ?? []) {
      this.schedules.push(
        new scheduler.Schedule(this, `Schedule-${s.backupClass}`, {
          description: `pgdr: dump ${props.database} (${s.backupClass}) on Fargate`,
          schedule: scheduler.ScheduleExpression.expression(s.expression, TimeZone.of(s.timeZone ?? 'UTC')),
          target: this.scheduledRun(this.dump, { [ENV.backupClass]: s.backupClass }),
        }),
      );
    }
    if (props.restoreTestSchedule) {
      this.schedules.push(
        new scheduler.Schedule(this, 'RestoreTestSchedule', {
          description: `pgdr: restore-test the newest backup of ${props.database} on Fargate`,
          schedule: scheduler.ScheduleExpression.expression(props.restoreTestSchedule.expression, TimeZone.of(props.restoreTestSchedule.timeZone ?? 'UTC')),
          target: this.scheduledRun(this.verify, { [ENV.restoreTest]: 'true' }),
        }),
      );
    }

    // New manifests: a verify task with the manifest's key.
    const eventsRole = new iam.Role(this, 'EventsRole', {
      description: `EventBridge starting the pgdr verify task of ${props.database} for each new manifest`,
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': stack.account } } }),
    });
    this.manifestRule = new events.Rule(this, 'NewManifest', {
      description: `pgdr: verify each new backup of ${props.database} (Fargate)`,
      eventPattern: newManifestPattern(props.vault, props.database),
      targets: [
        new eventTargets.EcsTask({
          cluster: props.cluster,
          taskDefinition: this.verify.taskDefinition,
          securityGroups: [this.verify.securityGroup],
          subnetSelection: this.subnets,
          role: eventsRole,
          containerOverrides: [{ containerName: CONTAINER_NAME, environment: [{ name: ENV.manifestKey, value: events.EventField.fromPath('$.detail.object.key') }] }],
          deadLetterQueue: this.deadLetterQueue,
          retryAttempts: 2,
          maxEventAge: Duration.hours(2),
        }),
      ],
    });
    Validations.of(eventsRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:*:task/<${stack.getLogicalId(props.cluster.node.defaultChild as ecs.CfnCluster)}>/*]`,
      reason: `aws-events-targets lets EventBridge tag the tasks it starts (ecs:TagResource); task ids are made at run time, and the ARN names the one pgdr cluster.`,
    });

    // Tasks that stopped without a reported end: exit codes other than 0 (done) and 1 (failed, reported by the core), or none at all.
    const families = [this.dump, this.verify, this.restore].map((j) => j.taskDefinition.family);
    this.stoppedTaskRule = new events.Rule(this, 'StoppedAbnormally', {
      description: `pgdr: Fargate jobs of ${props.database} that stopped without reporting (never started, killed, out of memory)`,
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: {
          clusterArn: [props.cluster.clusterArn],
          lastStatus: ['STOPPED'],
          taskDefinitionArn: families.map((family) => ({ prefix: `arn:${Aws.PARTITION}:ecs:${Aws.REGION}:${Aws.ACCOUNT_ID}:task-definition/${family}:` })),
          $or: [{ stopCode: ['TaskFailedToStart'] }, { containers: { exitCode: [{ 'anything-but': [0, 1] }] } }, { containers: { exitCode: [{ exists: false }] } }],
        },
      },
      targets: [new eventTargets.SqsQueue(this.deadLetterQueue)],
    });

    acknowledgeCompliance(
      this,
      'IAMNoInlinePolicy',
      `Each role of the Fargate jobs of ${props.database} (execution, one task role per job, scheduler, EventBridge) carries one policy of its own, written by CDK grants scoped to this database's prefix, secrets, task definitions and queue.`,
    );
  }

  /** Messages in the dead-letter queue (ApproximateNumberOfMessagesVisible). @default Maximum over 5 minutes */
  metricDeadLetters(options: { readonly period?: Duration } = {}): cloudwatch.Metric {
    return this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: cloudwatch.Stats.MAXIMUM, period: options.period ?? Duration.minutes(5) });
  }

  /** Failed dump runs of a backup class (`BackupFailed` {database, class}). @default Sum over 5 minutes */
  metricBackupFailed(backupClass: string, options: PgdrMetricOptions = {}): cloudwatch.Metric {
    return dumpJobMetric('BackupFailed', this.database, backupClass, options);
  }

  /** Stored size of each dump of a backup class (`BackupBytes` {database, class}). @default Maximum over 5 minutes */
  metricBackupBytes(backupClass: string, options: PgdrMetricOptions = {}): cloudwatch.Metric {
    return dumpJobMetric('BackupBytes', this.database, backupClass, options);
  }

  /** Failed verifications of a backup class (`VerifyFailed` {database, class}). @default Sum over 5 minutes */
  metricVerifyFailed(backupClass: string, options: PgdrMetricOptions = {}): cloudwatch.Metric {
    return verifyJobMetric('VerifyFailed', this.database, backupClass, { statistic: cloudwatch.Stats.SUM, ...options });
  }

  /** Tables whose restored row count differs from the manifest (`RowCountMismatches` {database, class}). @default Maximum over 5 minutes */
  metricRowCountMismatches(backupClass: string, options: PgdrMetricOptions = {}): cloudwatch.Metric {
    return verifyJobMetric('RowCountMismatches', this.database, backupClass, options);
  }

  /** Duration of a restore test (`RestoreTestSeconds` {database, class}). @default Maximum over 5 minutes */
  metricRestoreTestSeconds(backupClass: string, options: PgdrMetricOptions = {}): cloudwatch.Metric {
    return verifyJobMetric('RestoreTestSeconds', this.database, backupClass, options);
  }

  /** One job's task definition, task role, security group and log group. */
  private job(job: Job, props: FargateJobsProps, cpu: number, memoryMiB: number, storageGiB: number, ports: number[], environment: Record<string, string>): FargateJob {
    const scope = new Construct(this, capitalize(job));
    const stack = Stack.of(this);
    const taskRole = new iam.Role(scope, 'TaskRole', { assumedBy: tasksPrincipal(), description: `The pgdr ${job} job of ${props.database} on Fargate` });
    const taskDefinition = new ecs.FargateTaskDefinition(scope, 'TaskDefinition', {
      family: `${stack.stackName}-${props.database}-${job}`,
      cpu,
      memoryLimitMiB: memoryMiB,
      ephemeralStorageGiB: storageGiB,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
      executionRole: this.executionRole,
      taskRole,
    });
    const logGroup = encryptedLogGroup(scope, 'Logs', { encryptionKey: props.vault.key, logGroupName: props.vault.logGroupName(props.database, `fargate-${job}`), retention: logs.RetentionDays.ONE_YEAR });
    const container = taskDefinition.addContainer(CONTAINER_NAME, {
      image: props.image.containerImage,
      command: [IMAGE_PATHS.entry, job],
      environment: { POWERTOOLS_SERVICE_NAME: `pgdr-${job}`, ...environment },
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: job }),
      readonlyRootFilesystem: true,
      essential: true,
    });
    // Writable space on the task's ephemeral storage: the work directory (dump files, the ephemeral server) and /tmp.
    for (const [name, containerPath] of [['work', IMAGE_PATHS.workDir], ['tmp', '/tmp']] as const) {
      taskDefinition.addVolume({ name });
      container.addMountPoints({ sourceVolume: name, containerPath, readOnly: false });
    }
    taskDefinition.node.addDependency(props.image.buildRun);
    const securityGroup = jobSecurityGroup(scope, props.cluster.vpc, `pgdr ${job} job of ${props.database} (Fargate)`, ports);
    Validations.of(taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason: `The ${job} task's environment holds names only (bucket, key ARN, secret ARNs, paths, policy); the database passwords are read from Secrets Manager at run time by the job itself.`,
    });
    return { taskDefinition, securityGroup, taskRole };
  }

  /** A Scheduler target that runs `job` with extra environment (the RunTask TaskOverride), retried twice within an hour, then dead-lettered. */
  private scheduledRun(job: FargateJob, environment: Record<string, string>): schedulerTargets.EcsRunFargateTask {
    return new schedulerTargets.EcsRunFargateTask(this.cluster, {
      taskDefinition: job.taskDefinition,
      securityGroups: [job.securityGroup],
      vpcSubnets: this.subnets,
      role: this.schedulerRole,
      // Scheduler reads the input of an ECS target as the RunTask TaskOverride.
      input: scheduler.ScheduleTargetInput.fromObject({
        containerOverrides: [{ name: CONTAINER_NAME, environment: Object.entries(environment).map(([name, value]) => ({ name, value })) }],
      }),
      deadLetterQueue: this.deadLetterQueue,
      retryAttempts: 2,
      maxEventAge: Duration.hours(1),
    });
  }
}

/** The ECS tasks service, for this account only. */
function tasksPrincipal(): iam.IPrincipal {
  return new iam.ServicePrincipal('ecs-tasks.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } } });
}

/** PGDR_PG_SSLMODE and PGDR_PG_SSLROOTCERT of a container: the Lambda rules, with the CA files where the image keeps them. */
function containerTls(tls: JobTls | undefined, image: JobImage): Record<string, string> {
  const resolved = jobTls(tls, { rdsCaBundle: IMAGE_RDS_CA_BUNDLE });
  return { PGDR_PG_SSLMODE: resolved.mode, PGDR_PG_SSLROOTCERT: resolved.copyFile ? image.caBundlePath(resolved.copyFile) : resolved.rootCert };
}

function capitalize(s: string): string {
  return s[0].toUpperCase() + s.slice(1);
}
