import { CfnOutput, Duration, RemovalPolicy, Size, Stack, StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { AlarmFactory } from './alarm-factory';
import { AlertTopics } from './alert-topics';
import { BackupVault } from './backup-vault';
import type { DatabaseConfig, PgdrConfig } from './config';
import { DatabaseAlarms, detectionPlan, failoverAlarms, recoverySourcesOf } from './database-alarms';
import { defaultDrillSource, DrillSchedules } from './drill-schedules';
import { DumpJob } from './dump-job';
import { FailoverWorkflow, RecoveryDatabase } from './failover-workflow';
import { JobNetwork } from './job-network';
import { MonitorJob, monitorSettings } from './monitor-job';
import { PgTools, PgToolsSource } from './pg-tools';
import { RecoveryDashboard } from './recovery-dashboard';
import { RecoveryJobs } from './recovery-jobs';
import { databaseOutputId, DatabaseOutputs, OUTPUTS } from './stack-outputs';
import { recoverySettings } from './recovery-settings';
import { VerifyJob } from './verify-job';

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
  /** Jobs per database name. */
  readonly jobs = new Map<string, DatabaseJobs>();

  constructor(scope: Construct, id: string, props: PgdrStackProps) {
    super(scope, id, props);
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

    const recovery: RecoveryDatabase[] = [];
    for (const db of config.databases) {
      const jobs = this.addDatabase(db, this.toolsFor(db.source.engineMajorVersion, config));
      this.jobs.set(db.name, jobs);
      recovery.push({ settings: recoverySettings(db), restore: jobs.recovery.restore.function, validate: jobs.recovery.validate.function });
    }
    this.failover = new FailoverWorkflow(this, 'Failover', { vault: this.vault, topics: this.topics, databases: recovery });
    const drills = config.databases.flatMap((db) =>
      db.drill.schedule ? [{ database: db.name, expression: db.drill.schedule.expression, timeZone: db.drill.schedule.timeZone, source: db.drill.source ?? defaultDrillSource(db.source) }] : [],
    );
    if (drills.length > 0) this.drills = new DrillSchedules(this, 'Drills', { stateMachine: this.failover.stateMachine, drills });
    const alarms = new AlarmFactory(this, { topics: this.topics });
    failoverAlarms(alarms, this.failover);
    for (const db of config.databases) {
      const jobs = this.jobs.get(db.name)!;
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
      const jobFunctions = [jobs.dump.job, jobs.verify.job, jobs.recovery.restore, jobs.recovery.validate, jobs.monitor.job];
      jobs.alarms = new DatabaseAlarms(this, `${db.name}-Alarms`, { config: db, factory: alarms, monitor: jobs.monitor, dump: jobs.dump, verify: jobs.verify, failover: this.failover, jobs: jobFunctions, detection });
      const found: DatabaseOutputs = {
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
      alarms: config.databases.map((db) => this.jobs.get(db.name)!.alarms!.atRisk),
      databases: config.databases.map((db) => {
        const jobs = this.jobs.get(db.name)!;
        const monitor = jobs.monitor!;
        const classes = db.backupClasses.map((c) => c.name);
        const runs = (['drill', 'failover'] as const).flatMap((mode) => recoverySourcesOf(db).map((source) => ({ database: db.name, mode, source })));
        return {
          database: db.name,
          rpo: Duration.seconds(db.rpo.seconds),
          rto: Duration.seconds(db.rto.seconds),
          backupAge: monitor.metricBackupAge(),
          classBackupAges: classes.map((c) => monitor.metricClassBackupAge(c)),
          pitrLag: db.source.type === 'rds' && db.source.pointInTimeRecovery ? monitor.metricPitrLag() : undefined,
          restoreTestSeconds: classes.map((c) => jobs.verify.metricRestoreTestSeconds(c)),
          recoverySeconds: runs.map((r) => this.failover.metricRecoverySeconds(r)),
          estimatedRto: monitor.metricEstimatedRto(),
          backupBytes: classes.map((c) => jobs.dump.metricBackupBytes(c)),
          failures: [...classes.flatMap((c) => [jobs.dump.metricBackupFailed(c), jobs.verify.metricVerifyFailed(c), jobs.verify.metricRowCountMismatches(c)]), ...runs.map((r) => this.failover.metricRecoveryFailed(r))],
          health: [monitor.metricReachable(), monitor.metricConnectionsUsed(), ...(db.source.type === 'rds' ? [monitor.metricFreeStorage()] : [])],
        };
      }),
    });
    new CfnOutput(this, OUTPUTS.failoverStateMachine, { value: this.failover.stateMachine.stateMachineArn, description: 'Start a failover or drill here (input: see docs/failover.md)' });
    new CfnOutput(this, OUTPUTS.criticalTopic, { value: this.topics.critical.topicArn, description: 'Pages: failed failovers, RTO exceeded, approval requests' });
    new CfnOutput(this, OUTPUTS.backupBucket, { value: this.vault.bucket.bucketName, description: 'Bucket holding dumps, manifests and verification records' });
  }

  private toolsFor(major: number, config: PgdrConfig): PgTools {
    let tools = this.pgTools.get(major);
    if (!tools) {
      const arn = config.pgTools.layerArns[String(major)];
      const dir = config.pgTools.directories[String(major)];
      tools = new PgTools(this, `PgTools${major}`, {
        majorVersion: major,
        source: arn
          ? PgToolsSource.layerArn(arn)
          : dir
            ? PgToolsSource.localDirectory(dir)
            : // The build gets its own key: it must not be able to use the key of the dumps.
              PgToolsSource.codeBuild({ accessLogBucket: this.vault.accessLogBucket }),
      });
      this.pgTools.set(major, tools);
    }
    return tools;
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
    });
    new CfnOutput(this, `${db.name}-JobSecurityGroups`, {
      value: [dump.job, verify.job, recovery.restore, recovery.validate].map((j) => j.securityGroup.securityGroupId).join(','),
      description: `Security groups of the ${db.name} jobs: allow them inbound on the database port (the source, and the recovery instances' security groups)`,
    });
    return { dump, verify, recovery };
  }
}

function optionalDays(n: number | undefined): Duration | undefined {
  return n === undefined ? undefined : Duration.days(n);
}
