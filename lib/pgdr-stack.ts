import { Annotations, CfnOutput, Duration, RemovalPolicy, Size, Stack, StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { AlarmFactory } from './alarm-factory';
import { AlertTopics } from './alert-topics';
import { BackupVault } from './backup-vault';
import { DatabaseConfig, failoverRestoreJobs, fargateDumpJobs, PgdrConfig, verificationModeOf } from './config';
import { DatabaseAlarms, detectionPlan, failoverAlarms, recoverySourcesOf } from './database-alarms';
import { defaultDrillSource, DrillSchedules } from './drill-schedules';
import { DumpJob } from './dump-job';
import { FargateJobs } from './fargate-jobs';
import { JobImage } from './job-image';
import { FailoverWorkflow, RecoveryDatabase } from './failover-workflow';
import { JobNetwork } from './job-network';
import { MonitorJob, monitorSettings } from './monitor-job';
import { PgTools, PgToolsSource } from './pg-tools';
import { RecoveryDashboard } from './recovery-dashboard';
import { RecoveryJobs } from './recovery-jobs';
import { databaseOutputId, DatabaseOutputs, FargateDatabaseOutputs, OUTPUTS } from './stack-outputs';
import { recoverySettings } from './recovery-settings';
import { PUBLIC_CAS, RDS_CA_BUNDLE } from './tls-ca';
import { VerifyJob } from './verify-job';
import { CONTAINER_NAME } from '../container/contract';

/** Properties of a {@link PgdrStack}. */
export interface PgdrStackProps extends StackProps {
  /** The validated pgdr configuration. */
  readonly config: PgdrConfig;
}

/** The jobs of one protected database. */
export interface DatabaseJobs {
  readonly dump: DumpJob;
  readonly verify: VerifyJob;
  /** The restore and validate jobs of the failover workflow. */
  readonly recovery: RecoveryJobs;
  /** The recovery-objectives monitor (set once the failover workflow exists). */
  monitor?: MonitorJob;
  /** The recovery-objective alarms. */
  alarms?: DatabaseAlarms;
}

/** The jobs of one protected database whose runner is ECS Fargate (`runner.type: "fargate"`). */
export interface FargateDatabaseJobs {
  /** The dump, verify and restore task definitions, schedules and rules. */
  readonly fargate: FargateJobs;
  /** The restore and validate Lambdas of the failover workflow. */
  readonly recovery: RecoveryJobs;
  /** The recovery-objectives monitor (set once the failover workflow exists). */
  monitor?: MonitorJob;
  /** The recovery-objective alarms. */
  alarms?: DatabaseAlarms;
}

/** The pgdr deployment: composes the constructs; holds no resources of its own. */
export class PgdrStack extends Stack {
  readonly vault: BackupVault;
  readonly network: JobNetwork;
  /** Per-severity notification topics (failover now, recovery-objective alarms next). */
  readonly topics: AlertTopics;
  /** The failover state machine. */
  readonly failover: FailoverWorkflow;
  /** Scheduled failover drills (databases with `drill.schedule`). */
  readonly drills?: DrillSchedules;
  /** The per-stack recovery dashboard. */
  readonly dashboard: RecoveryDashboard;
  /** PostgreSQL client tools, one layer per major version in use. */
  readonly pgTools = new Map<number, PgTools>();
  /** Jobs per database name, of the databases on the Lambda runner. */
  readonly jobs = new Map<string, DatabaseJobs>();
  /** Jobs per database name, of the databases on the Fargate runner. */
  readonly fargateJobs = new Map<string, FargateDatabaseJobs>();
  /** The ECS cluster of the Fargate jobs (one per stack, container insights on), when a database uses them. */
  readonly jobCluster?: ecs.Cluster;
  /** The Fargate job image per PostgreSQL major in use there. */
  readonly jobImages = new Map<number, JobImage>();

  constructor(scope: Construct, id: string, props: PgdrStackProps) {
    // Compact JSON: a template of several databases nears CloudFormation's 1 MB limit when indented.
    super(scope, id, { suppressTemplateIndentation: true, ...props });
    const { config } = props;
    const removalPolicy = config.vault.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
    const lockDays = Duration.days(config.vault.objectLock.days);

    this.vault = new BackupVault(this, 'Vault', {
      objectLockRetention:
        config.vault.objectLock.mode === 'COMPLIANCE' ? s3.ObjectLockRetention.compliance(lockDays) : s3.ObjectLockRetention.governance(lockDays),
      noncurrentVersionExpiration: Duration.days(config.vault.noncurrentVersionExpirationDays),
      removalPolicy,
      breakGlassPrincipalArn: config.vault.breakGlassPrincipalArn,
      backupClasses: config.databases.flatMap((db) =>
        db.backupClasses.map((c) => ({
          database: db.name,
          backupClass: c.name,
          infrequentAccessAfter: optionalDays(c.retention.standardIaAfterDays),
          glacierInstantRetrievalAfter: optionalDays(c.retention.glacierIrAfterDays),
          expireAfter: Duration.days(c.retention.expireAfterDays),
        })),
      ),
    });

    this.network = new JobNetwork(this, 'Network', {
      existing: config.network,
      flowLogEncryption: { key: this.vault.key, logGroupName: this.vault.logGroupName('vpc-flow-logs') },
    });

    this.topics = new AlertTopics(this, 'Alerts', { subscribers: config.paging });

    const onFargate = config.databases.filter((db) => db.runner.type === 'fargate');
    if (onFargate.length > 0) {
      this.jobCluster = new ecs.Cluster(this, 'JobCluster', { vpc: this.network.vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });
    }
    const recovery: RecoveryDatabase[] = [];
    for (const db of config.databases) {
      const pgTools = this.toolsFor(db.source.engineMajorVersion, config);
      const jobs = db.runner.type === 'fargate' ? this.addFargateDatabase(db, pgTools, this.imageFor(db.source.engineMajorVersion, onFargate)) : this.addDatabase(db, pgTools);
      if ('fargate' in jobs) this.fargateJobs.set(db.name, jobs);
      else this.jobs.set(db.name, jobs);
      const restore =
        'fargate' in jobs
          ? { restoreTask: { cluster: jobs.fargate.cluster, taskDefinition: jobs.fargate.restore.taskDefinition, containerName: CONTAINER_NAME, securityGroups: [jobs.fargate.restore.securityGroup], subnets: jobs.fargate.subnets } }
          : { restore: jobs.recovery.restore!.function };
      recovery.push({ settings: recoverySettings(db), validate: jobs.recovery.validate.function, ...restore });
    }
    this.failover = new FailoverWorkflow(this, 'Failover', { vault: this.vault, topics: this.topics, databases: recovery });
    const drills = config.databases.flatMap((db) =>
      db.drill.schedule ? [{ database: db.name, expression: db.drill.schedule.expression, timeZone: db.drill.schedule.timeZone, source: db.drill.source ?? defaultDrillSource(db.source) }] : [],
    );
    if (drills.length > 0) this.drills = new DrillSchedules(this, 'Drills', { stateMachine: this.failover.stateMachine, drills });
    const alarms = new AlarmFactory(this, { topics: this.topics });
    failoverAlarms(alarms, this.failover);
    for (const db of config.databases) {
      const jobs = this.jobsOf(db.name);
      const detection = detectionPlan(db.rpo.seconds);
      jobs.monitor = new MonitorJob(this, `${db.name}-Monitor`, {
        database: db.name,
        secret: secretsmanager.Secret.fromSecretCompleteArn(this, `${db.name}-MonitorSecret`, db.source.secretArn),
        vault: this.vault,
        pgTools: this.toolsFor(db.source.engineMajorVersion, config),
        vpc: this.network.vpc,
        vpcSubnets: this.network.subnets,
        tls: db.source.tls,
        databasePort: db.source.port,
        settings: monitorSettings(db),
        interval: Duration.seconds(detection.monitorIntervalSeconds),
      });
      const { dump, verify } = this.metricSourcesOf(db.name);
      const withDeadLetters = [...('fargate' in jobs ? [jobs.fargate] : [jobs.dump.job, jobs.verify.job]), ...(jobs.recovery.restore ? [jobs.recovery.restore] : []), jobs.recovery.validate, jobs.monitor.job];
      jobs.alarms = new DatabaseAlarms(this, `${db.name}-Alarms`, { config: db, factory: alarms, monitor: jobs.monitor, dump, verify, failover: this.failover, jobs: withDeadLetters, detection });
      const found: DatabaseOutputs | FargateDatabaseOutputs =
        'fargate' in jobs
          ? {
              database: db.name,
              runner: 'fargate',
              backupClasses: db.backupClasses.map((c) => c.name),
              monitorFunction: jobs.monitor.job.function.functionName,
              fargate: {
                cluster: jobs.fargate.cluster.clusterArn,
                containerName: CONTAINER_NAME,
                subnets: this.network.vpc.selectSubnets(jobs.fargate.subnets).subnetIds,
                jobs: {
                  dump: { taskDefinition: jobs.fargate.dump.taskDefinition.taskDefinitionArn, securityGroup: jobs.fargate.dump.securityGroup.securityGroupId },
                  verify: { taskDefinition: jobs.fargate.verify.taskDefinition.taskDefinitionArn, securityGroup: jobs.fargate.verify.securityGroup.securityGroupId },
                  restore: { taskDefinition: jobs.fargate.restore.taskDefinition.taskDefinitionArn, securityGroup: jobs.fargate.restore.securityGroup.securityGroupId },
                },
              },
            }
          : {
              database: db.name,
              dumpFunction: jobs.dump.job.function.functionName,
              backupClasses: db.backupClasses.map((c) => c.name),
              verifyFunction: jobs.verify.job.function.functionName,
              monitorFunction: jobs.monitor.job.function.functionName,
            };
      new CfnOutput(this, databaseOutputId(db.name), { value: this.toJsonString(found), description: `pgdr CLI: the jobs of database ${db.name} (JSON)` });
    }
    if (this.drills) {
      alarms.metricAlarm({
        name: 'drill-dead-letters',
        severity: 'warning',
        metric: this.drills.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: cloudwatch.Stats.MAXIMUM, period: Duration.minutes(5) }),
        threshold: 1,
        comparison: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        summary: 'A scheduled drill could not be started (EventBridge Scheduler gave up on the delivery): no drill ran, the drill-age alarm will follow.',
        runbookSection: 'Dead letters',
      });
    }
    this.dashboard = new RecoveryDashboard(this, 'Dashboard', {
      dashboardName: `${this.stackName}-recovery`,
      alarms: config.databases.map((db) => this.jobsOf(db.name).alarms!.atRisk),
      databases: config.databases.map((db) => {
        const monitor = this.jobsOf(db.name).monitor!;
        const { dump, verify } = this.metricSourcesOf(db.name);
        const classes = db.backupClasses.map((c) => c.name);
        const runs = (['drill', 'failover'] as const).flatMap((mode) => recoverySourcesOf(db).map((source) => ({ database: db.name, mode, source })));
        return {
          database: db.name,
          rpo: Duration.seconds(db.rpo.seconds),
          rto: Duration.seconds(db.rto.seconds),
          backupAge: monitor.metricBackupAge(),
          classBackupAges: classes.map((c) => monitor.metricClassBackupAge(c)),
          pitrLag: db.source.type === 'rds' && db.source.pointInTimeRecovery ? monitor.metricPitrLag() : undefined,
          restoreTestSeconds: classes.map((c) => verify.metricRestoreTestSeconds(c)),
          recoverySeconds: runs.map((r) => this.failover.metricRecoverySeconds(r)),
          estimatedRto: monitor.metricEstimatedRto(),
          backupBytes: classes.map((c) => dump.metricBackupBytes(c)),
          failures: [...classes.flatMap((c) => [dump.metricBackupFailed(c), verify.metricVerifyFailed(c), verify.metricRowCountMismatches(c)]), ...runs.map((r) => this.failover.metricRecoveryFailed(r))],
          health: [monitor.metricReachable(), monitor.metricConnectionsUsed(), ...(db.source.type === 'rds' ? [monitor.metricFreeStorage()] : [])],
        };
      }),
    });
    new CfnOutput(this, OUTPUTS.failoverStateMachine, { value: this.failover.stateMachine.stateMachineArn, description: 'Start a failover or drill here (input: see docs/failover.md)' });
    new CfnOutput(this, OUTPUTS.criticalTopic, { value: this.topics.critical.topicArn, description: 'Pages: failed failovers, RTO exceeded, approval requests' });
    new CfnOutput(this, OUTPUTS.backupBucket, { value: this.vault.bucket.bucketName, description: 'Bucket holding dumps, manifests and verification records' });
  }

  /** The jobs of a database, whichever its runner. */
  private jobsOf(database: string): DatabaseJobs | FargateDatabaseJobs {
    return this.jobs.get(database) ?? this.fargateJobs.get(database)!;
  }

  /** What publishes a database's dump and verify metrics (the Lambda jobs or the Fargate jobs: the same cores, the same metrics). */
  private metricSourcesOf(database: string): { dump: DumpJob | FargateJobs; verify: VerifyJob | FargateJobs } {
    const jobs = this.jobsOf(database);
    return 'fargate' in jobs ? { dump: jobs.fargate, verify: jobs.fargate } : { dump: jobs.dump, verify: jobs.verify };
  }

  /** The Fargate job image of a major, with the PEM files the Fargate databases of that major name as caBundle. */
  private imageFor(major: number, onFargate: DatabaseConfig[]): JobImage {
    let image = this.jobImages.get(major);
    if (!image) {
      const caBundleFiles = [
        ...new Set(onFargate.filter((d) => d.source.engineMajorVersion === major && d.source.tls.caBundle !== RDS_CA_BUNDLE && d.source.tls.caBundle !== PUBLIC_CAS).map((d) => d.source.tls.caBundle)),
      ];
      image = new JobImage(this, `JobImage${major}`, { majorVersion: major, caBundleFiles });
      this.jobImages.set(major, image);
    }
    return image;
  }

  private toolsFor(major: number, config: PgdrConfig): PgTools {
    let tools = this.pgTools.get(major);
    if (!tools) {
      const arn = config.pgTools.layerArns[String(major)];
      const dir = config.pgTools.directories[String(major)];
      // A Lambda verify job with restore tests on an ephemeral server needs the server in the layer.
      const ephemeral = config.databases.filter((d) => d.runner.type === 'lambda' && d.source.engineMajorVersion === major && verificationModeOf(d) === 'ephemeral');
      tools = new PgTools(this, `PgTools${major}`, {
        majorVersion: major,
        source: arn
          ? PgToolsSource.layerArn(arn)
          : dir
            ? PgToolsSource.localDirectory(dir)
            : // The build gets its own key: it must not be able to use the key of the dumps.
              PgToolsSource.codeBuild({ accessLogBucket: this.vault.accessLogBucket, withServer: ephemeral.length > 0 }),
      });
      if (ephemeral.length > 0 && (arn || dir)) {
        Annotations.of(tools).addWarningV2(
          'pgdr:ephemeral-server-tools',
          `${ephemeral.map((d) => d.name).join(', ')}: verification.mode "ephemeral" on Lambda needs a PostgreSQL ${major} server in the tools layer (${arn ? `pgTools.layerArns["${major}"]` : `pgTools.directories["${major}"]`}): pack it with scripts/pack-pg-tools.sh --with-server, or restore tests fail at run time.`,
        );
      }
      this.pgTools.set(major, tools);
    }
    return tools;
  }

  /** A database on the Fargate runner: Fargate dump, verify and restore tasks, plus the Lambda recovery jobs of the failover workflow. */
  private addFargateDatabase(db: DatabaseConfig, pgTools: PgTools, image: JobImage): FargateDatabaseJobs {
    if (db.runner.type !== 'fargate') throw new Error(`databases.${db.name}.runner.type: must be "fargate" here (received "${db.runner.type}")`);
    const secret = secretsmanager.Secret.fromSecretCompleteArn(this, `${db.name}-Secret`, db.source.secretArn);
    const cutoverSecret = db.failover.cutover.secretArn ? secretsmanager.Secret.fromSecretCompleteArn(this, `${db.name}-AppSecret`, db.failover.cutover.secretArn) : undefined;
    const fargate = new FargateJobs(this, `${db.name}-Fargate`, {
      database: db.name,
      cluster: this.jobCluster!,
      image,
      secret,
      vault: this.vault,
      vpcSubnets: this.network.subnets,
      tls: db.source.tls,
      databasePort: db.source.port,
      cpu: db.runner.cpu,
      memory: Size.mebibytes(db.runner.memoryMiB),
      ephemeralStorage: Size.gibibytes(db.runner.ephemeralStorageGiB),
      dumpFormat: db.runner.dumpFormat,
      parallelJobs: fargateDumpJobs(db.runner),
      restoreJobs: failoverRestoreJobs(db.failover),
      verifyMode: verificationModeOf(db),
      verificationServerSecret: db.verification.serverSecretArn
        ? secretsmanager.Secret.fromSecretCompleteArn(this, `${db.name}-VerifySecret`, db.verification.serverSecretArn)
        : undefined,
      schedules: db.backupClasses.flatMap((c) => (c.schedule ? [{ backupClass: c.name, ...c.schedule }] : [])),
      restoreTestEveryNth: db.verification.restoreTestEveryNth,
      restoreTestSchedule: db.verification.restoreTestSchedule,
      smokeQueries: db.verification.smokeQueries,
      cutoverSecret,
    });
    const recovery = new RecoveryJobs(this, `${db.name}-Recovery`, {
      database: db.name,
      vault: this.vault,
      pgTools,
      vpc: this.network.vpc,
      vpcSubnets: this.network.subnets,
      tls: db.source.tls,
      secret,
      cutoverSecret,
      databasePorts: [db.source.port],
      // The failover restores on Fargate (the restore task): no restore Lambda.
      restoreFunction: false,
    });
    new CfnOutput(this, `${db.name}-JobSecurityGroups`, {
      value: [fargate.dump, fargate.verify, fargate.restore, recovery.validate].map((j) => j.securityGroup.securityGroupId).join(','),
      description: `Security groups of the ${db.name} jobs (Fargate tasks and the validate Lambda): allow them inbound on the database port (the source, and the recovery instances' security groups)`,
    });
    return { fargate, recovery };
  }

  private addDatabase(db: DatabaseConfig, pgTools: PgTools): DatabaseJobs {
    const secret = secretsmanager.Secret.fromSecretCompleteArn(this, `${db.name}-Secret`, db.source.secretArn);
    const verifySecret = db.verification.serverSecretArn
      ? secretsmanager.Secret.fromSecretCompleteArn(this, `${db.name}-VerifySecret`, db.verification.serverSecretArn)
      : undefined;
    const common = { database: db.name, vault: this.vault, pgTools, vpc: this.network.vpc, vpcSubnets: this.network.subnets, tls: db.source.tls };
    const dump = new DumpJob(this, `${db.name}-DumpJob`, {
      ...common,
      secret,
      databasePort: db.source.port,
      schedules: db.backupClasses.flatMap((c) => (c.schedule ? [{ backupClass: c.name, ...c.schedule }] : [])),
      memorySize: Size.mebibytes(db.jobs.dump.memoryMiB),
      timeout: Duration.seconds(db.jobs.dump.timeout.seconds),
    });
    const verify = new VerifyJob(this, `${db.name}-VerifyJob`, {
      ...common,
      secret,
      verificationServerSecret: verifySecret,
      databasePorts: [db.source.port],
      restoreTestEveryNth: db.verification.restoreTestEveryNth,
      restoreTestSchedule: db.verification.restoreTestSchedule,
      smokeQueries: db.verification.smokeQueries,
      verifyMode: verificationModeOf(db),
      memorySize: Size.mebibytes(db.jobs.verify.memoryMiB),
      ephemeralStorageSize: Size.mebibytes(db.jobs.verify.ephemeralStorageMiB),
      timeout: Duration.seconds(db.jobs.verify.timeout.seconds),
    });
    const recovery = new RecoveryJobs(this, `${db.name}-Recovery`, {
      ...common,
      secret,
      cutoverSecret: db.failover.cutover.secretArn ? secretsmanager.Secret.fromSecretCompleteArn(this, `${db.name}-AppSecret`, db.failover.cutover.secretArn) : undefined,
      databasePorts: [db.source.port],
      restoreMemorySize: Size.mebibytes(db.jobs.verify.memoryMiB),
      restoreJobs: failoverRestoreJobs(db.failover),
    });
    new CfnOutput(this, `${db.name}-JobSecurityGroups`, {
      value: [dump.job, verify.job, recovery.restore!, recovery.validate].map((j) => j.securityGroup.securityGroupId).join(','),
      description: `Security groups of the ${db.name} jobs: allow them inbound on the database port (the source, and the recovery instances' security groups)`,
    });
    return { dump, verify, recovery };
  }
}

function optionalDays(n: number | undefined): Duration | undefined {
  return n === undefined ? undefined : Duration.days(n);
}
