import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';

/** What the dashboard shows of one database (metrics come from the constructs' metricX helpers). */
export interface DashboardDatabase {
  /** pgdr database name. */
  readonly database: string;
  /** The RPO, drawn as a line on the backup age. */
  readonly rpo: Duration;
  /** The RTO, drawn as a line on the restore, recovery and estimated times. */
  readonly rto: Duration;
  /** Age of the newest verified backup. */
  readonly backupAge: cloudwatch.IMetric;
  /** Per class: age of its newest verified backup. @default [] */
  readonly classBackupAges?: cloudwatch.IMetric[];
  /** RDS with PITR: the point-in-time recovery lag. @default none */
  readonly pitrLag?: cloudwatch.IMetric;
  /** Restore-test durations (per class). */
  readonly restoreTestSeconds: cloudwatch.IMetric[];
  /** Measured recoveries (drills and failovers). */
  readonly recoverySeconds: cloudwatch.IMetric[];
  /** The monitor's estimate of a recovery now. */
  readonly estimatedRto: cloudwatch.IMetric;
  /** Stored backup sizes (per class). */
  readonly backupBytes: cloudwatch.IMetric[];
  /** Failure counts (backup, verification, recovery, row-count mismatches). */
  readonly failures: cloudwatch.IMetric[];
  /** Health: reachable (0/1), connections used (%), free storage (%). */
  readonly health: cloudwatch.IMetric[];
}

/** Properties of a {@link RecoveryDashboard}. */
export interface RecoveryDashboardProps {
  /** Dashboard name. */
  readonly dashboardName: string;
  /** One section per database (at least one). */
  readonly databases: DashboardDatabase[];
  /** Alarms whose state is shown at the top. @default none */
  readonly alarms?: cloudwatch.IAlarm[];
}

const WIDTH = 24;

/**
 * One CloudWatch dashboard per stack: per database, the backup age against the RPO line; the
 * restore-test and drill/failover times and the estimated RTO against the RTO line; backup sizes;
 * failures; health. The alarms' states on top.
 */
export class RecoveryDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: RecoveryDashboardProps) {
    super(scope, id);
    if (props.databases.length === 0) throw new Error('databases: the dashboard needs at least one database (received none)');
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { dashboardName: props.dashboardName, defaultInterval: Duration.days(7) });
    if (props.alarms && props.alarms.length > 0) {
      this.dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'pgdr alarms', alarms: props.alarms, width: WIDTH, height: Math.min(12, 2 + Math.ceil(props.alarms.length / 4)) }));
    }
    for (const db of props.databases) {
      const hours = (d: Duration) => d.toHours({ integral: false });
      this.dashboard.addWidgets(new cloudwatch.TextWidget({ markdown: `## ${db.database}\nRPO ${db.rpo.toHumanString()} · RTO ${db.rto.toHumanString()}`, width: WIDTH, height: 2 }));
      this.dashboard.addWidgets(
        new cloudwatch.GraphWidget({
          title: `${db.database}: newest verified backup age vs RPO (hours)`,
          left: [inHours(db.backupAge, 'all classes'), ...(db.classBackupAges ?? []).map((m, i) => inHours(m, `class ${i + 1}`)), ...(db.pitrLag ? [inHours(db.pitrLag, 'PITR lag')] : [])],
          leftAnnotations: [{ value: hours(db.rpo), label: `RPO ${db.rpo.toHumanString()}`, color: cloudwatch.Color.RED }],
          leftYAxis: { min: 0, label: 'hours', showUnits: false },
          width: 12,
        }),
        new cloudwatch.GraphWidget({
          title: `${db.database}: restore tests, recoveries and estimated RTO vs RTO (minutes)`,
          left: [inMinutes(db.estimatedRto, 'estimated RTO'), ...db.restoreTestSeconds.map((m) => inMinutes(m)), ...db.recoverySeconds.map((m) => inMinutes(m))],
          leftAnnotations: [{ value: db.rto.toMinutes({ integral: false }), label: `RTO ${db.rto.toHumanString()}`, color: cloudwatch.Color.RED }],
          leftYAxis: { min: 0, label: 'minutes', showUnits: false },
          width: 12,
        }),
      );
      this.dashboard.addWidgets(
        new cloudwatch.GraphWidget({ title: `${db.database}: backup sizes`, left: db.backupBytes, width: 8 }),
        new cloudwatch.GraphWidget({ title: `${db.database}: failures`, left: db.failures, width: 8, leftYAxis: { min: 0 } }),
        new cloudwatch.GraphWidget({ title: `${db.database}: health`, left: db.health, width: 8, leftYAxis: { min: 0 } }),
      );
    }
  }
}

let nextId = 0;

/** A seconds metric divided for display; each expression names its metric uniquely (ids must not repeat within a graph). */
function scaled(metric: cloudwatch.IMetric, divisor: number, label: string): cloudwatch.IMetric {
  const id = `s${++nextId}`;
  return new cloudwatch.MathExpression({ expression: `${id} / ${divisor}`, usingMetrics: { [id]: metric }, label, period: metricPeriod(metric) });
}

const inHours = (metric: cloudwatch.IMetric, label?: string) => scaled(metric, 3600, label ?? metricLabel(metric));
const inMinutes = (metric: cloudwatch.IMetric, label?: string) => scaled(metric, 60, label ?? metricLabel(metric));

function metricPeriod(metric: cloudwatch.IMetric): Duration {
  return metric instanceof cloudwatch.Metric ? metric.period : Duration.minutes(5);
}

function metricLabel(metric: cloudwatch.IMetric): string {
  if (metric instanceof cloudwatch.Metric) return metric.label ?? `${metric.metricName} ${Object.values(metric.dimensions ?? {}).join(' ')}`.trim();
  return 'minutes';
}
