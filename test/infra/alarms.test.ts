/**
 * The recovery-objective alarms, the monitor's schedule and the metric helpers, for every shipped
 * configuration. Expected thresholds are computed HERE from the configuration (not with the
 * functions of lib/database-alarms.ts), so a wrong derivation there fails these tests.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { loadConfig, PgdrConfig } from '../../lib/config';
import { AlarmFactory } from '../../lib/alarm-factory';
import { databaseThresholds, detectionPlan } from '../../lib/database-alarms';
import { MonitorJob } from '../../lib/monitor-job';
import { MONITOR_METRICS } from '../../lambda/monitor/contract';
import { SHIPPED_CONFIGS, synthConfig } from './synth';

type Resource = { Type: string; Properties: any; Metadata?: any };
type DatabaseConfig = PgdrConfig['databases'][number];

/** Longest gap of the schedules the shipped configurations use (a new form must be added here by hand). */
function scheduleGapSeconds(expression: string): number {
  const rate = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(expression);
  if (rate) return Number(rate[1]) * { minute: 60, hour: 3600, day: 86400 }[rate[2] as 'minute' | 'hour' | 'day'];
  if (/^cron\(\d+ \d+ \* \* \? \*\)$/.test(expression)) return 86400; // once a day
  throw new Error(`the test does not know the gap of ${expression}: add it`);
}

/** Zones of the shipped configurations and whether they observe daylight saving. */
const DST: Record<string, boolean> = { UTC: false, 'Europe/Berlin': true, 'Europe/Dublin': true, 'Australia/Sydney': true, 'America/Los_Angeles': true };

/** Whether a class's schedule has a 25-hour day once a year (a cron read in a zone with daylight saving). */
function shifts(c: DatabaseConfig['backupClasses'][number]): boolean {
  if (!c.schedule || !c.schedule.expression.startsWith('cron(')) return false;
  if (!(c.schedule.timeZone in DST)) throw new Error(`the test does not know whether ${c.schedule.timeZone} has DST: add it`);
  return DST[c.schedule.timeZone];
}

/** Dump + verify timeouts, + 1 h when the RPO is met only by schedules that shift with daylight saving. */
function expectedGrace(db: DatabaseConfig): number {
  const scheduled = db.backupClasses.filter((c) => c.schedule);
  const steadyMeetsRpo = scheduled.some((c) => !shifts(c) && scheduleGapSeconds(c.schedule!.expression) <= db.rpo.seconds);
  return db.jobs.dump.timeout.seconds + db.jobs.verify.timeout.seconds + (scheduled.some(shifts) && !steadyMeetsRpo ? 3600 : 0);
}

function expectedRpo(db: DatabaseConfig): { metric: string; threshold: number } {
  if (db.source.type === 'rds' && db.source.pointInTimeRecovery) return { metric: 'PitrLagSeconds', threshold: db.rpo.seconds + 300 };
  return { metric: 'BackupAgeSeconds', threshold: db.rpo.seconds + expectedGrace(db) };
}

const ofType = (resources: Record<string, Resource>, type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

describe.each(SHIPPED_CONFIGS)('%s', (configPath) => {
  const config = loadConfig(configPath);
  const { stack, template, violations } = synthConfig(config);
  const resources = template.toJSON().Resources as Record<string, Resource>;
  const prefix = config.stackName;
  const topicId = (severity: string) => ofType(resources, 'AWS::SNS::Topic').find(([, r]) => r.Properties.TopicName === `${prefix}-${severity}`)![0];
  const alarms = ofType(resources, 'AWS::CloudWatch::Alarm').map(([id, r]) => ({ id, ...r.Properties }));
  const alarm = (name: string) => {
    const found = alarms.find((a) => a.AlarmName === name);
    if (!found) throw new Error(`no alarm named ${name} (have: ${alarms.map((a) => a.AlarmName).join(', ')})`);
    return found;
  };

  it('synthesizes cdk-nag clean', () => {
    expect(violations).toEqual([]);
  });

  it('routes every alarm, when it fires AND when it recovers, to the topic of its severity (named in its description with a runbook section)', () => {
    const composites = ofType(resources, 'AWS::CloudWatch::CompositeAlarm').map(([, r]) => r.Properties);
    for (const a of [...alarms, ...composites]) {
      const severity = /^\[(critical|warning)\] /.exec(a.AlarmDescription)?.[1];
      expect({ name: a.AlarmName, severity }).toEqual({ name: a.AlarmName, severity: expect.stringMatching(/^(critical|warning)$/) });
      expect(a.AlarmDescription).toMatch(/Runbook: docs\/alarms\.md, section "[^"]+"\.$/);
      expect(a.AlarmActions).toEqual([{ Ref: topicId(severity!) }]);
      expect(a.OKActions).toEqual([{ Ref: topicId(severity!) }]);
      expect(a.AlarmName.startsWith(`${prefix}-`)).toBe(true);
    }
    // Every metric alarm says what missing data means.
    for (const a of alarms) expect(a.TreatMissingData).toMatch(/^(breaching|notBreaching|ignore|missing)$/);
  });

  it('has the stack-wide failover alarms (execution failed, timed out: critical)', () => {
    const sm = ofType(resources, 'AWS::StepFunctions::StateMachine').find(([id]) => id.startsWith('Failover'))![0];
    for (const [name, metric] of [['failover-failed', 'ExecutionsFailed'], ['failover-timed-out', 'ExecutionsTimedOut']]) {
      const a = alarm(`${prefix}-${name}`);
      expect(a).toMatchObject({ Namespace: 'AWS/States', MetricName: metric, Threshold: 1, Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: sm } }] });
      expect(a.AlarmActions).toEqual([{ Ref: topicId('critical') }]);
    }
  });

  describe.each(config.databases.map((db) => [db.name, db] as const))('database %s', (name, db) => {
    const own = alarms.filter((a) => a.AlarmName.startsWith(`${prefix}-${name}-`));
    const severityOf = (a: { AlarmDescription: string }) => /^\[(\w+)\]/.exec(a.AlarmDescription)![1];

    it('has at least six alarms, each with an alarm and an OK action', () => {
      expect(own.length).toBeGreaterThanOrEqual(6);
      for (const a of own) {
        expect(a.AlarmActions).toHaveLength(1);
        expect(a.OKActions).toHaveLength(1);
      }
    });

    it('pages (critical) on an RPO breach at the threshold the configuration implies, missing data counting as a breach', () => {
      const expected = expectedRpo(db);
      const a = alarm(`${prefix}-${name}-rpo`);
      expect(severityOf(a)).toBe('critical');
      expect(a).toMatchObject({
        Namespace: 'PgDr',
        MetricName: expected.metric,
        Dimensions: [{ Name: 'database', Value: name }],
        Threshold: expected.threshold,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'breaching',
      });
    });

    it('warns when a scheduled backup class is older than its interval + grace (unscheduled classes have none)', () => {
      for (const c of db.backupClasses) {
        const name_ = `${prefix}-${name}-stale-${c.name}`;
        if (!c.schedule) {
          expect(alarms.find((a) => a.AlarmName === name_)).toBeUndefined();
          continue;
        }
        const a = alarm(name_);
        expect(severityOf(a)).toBe('warning');
        expect(a).toMatchObject({
          MetricName: 'BackupAgeSeconds',
          Dimensions: expect.arrayContaining([{ Name: 'database', Value: name }, { Name: 'class', Value: c.name }]),
          Threshold: scheduleGapSeconds(c.schedule.expression) + db.jobs.dump.timeout.seconds + db.jobs.verify.timeout.seconds + (shifts(c) ? 3600 : 0),
          TreatMissingData: 'breaching',
        });
      }
    });

    it('compares restore tests, the estimated RTO and measured recoveries with the RTO', () => {
      const rto = db.rto.seconds;
      const expectations: [string, number, string][] = [
        ['restore-test-slow', 0.8 * rto, 'warning'],
        ['restore-test-over-rto', rto, 'critical'],
        ['estimated-rto', rto, 'warning'],
        ['recovery-over-rto', rto, 'critical'],
      ];
      for (const [suffix, threshold, severity] of expectations) {
        const a = alarm(`${prefix}-${name}-${suffix}`);
        expect({ suffix, threshold: a.Threshold, severity: severityOf(a), op: a.ComparisonOperator }).toEqual({ suffix, threshold, severity, op: 'GreaterThanThreshold' });
      }
      const recovery = alarm(`${prefix}-${name}-recovery-over-rto`);
      const sources = db.source.type === 'rds' ? (db.source.pointInTimeRecovery ? ['pitr', 'snapshot', 'dump'] : ['snapshot', 'dump']) : ['dump'];
      const watched = recovery.Metrics.filter((m: any) => m.MetricStat).map((m: any) => m.MetricStat.Metric);
      expect(watched).toHaveLength(2 * sources.length);
      for (const m of watched) {
        expect(m).toMatchObject({ Namespace: 'PgDr', MetricName: 'RecoverySeconds' });
        expect(m.Dimensions.map((d: any) => d.Name).sort()).toEqual(['database', 'mode', 'source']);
      }
      expect(alarm(`${prefix}-${name}-estimated-rto`).MetricName).toBe('EstimatedRtoSeconds');
    });

    it('warns when no drill succeeded within drill.maxAge, pages on failed backups that repeat, failed verifications, unreachable and busy databases', () => {
      expect(alarm(`${prefix}-${name}-no-recent-drill`)).toMatchObject({ MetricName: 'DrillAgeSeconds', Threshold: db.drill.maxAge.seconds, TreatMissingData: 'breaching' });
      for (const c of db.backupClasses) {
        expect(severityOf(alarm(`${prefix}-${name}-backup-failed-${c.name}`))).toBe('warning');
        const repeated = alarm(`${prefix}-${name}-backup-failed-repeatedly-${c.name}`);
        expect(repeated).toMatchObject({ MetricName: 'BackupFailed', Statistic: 'Sum', EvaluationPeriods: 2, DatapointsToAlarm: 2 });
        expect(severityOf(repeated)).toBe('critical');
      }
      expect(severityOf(alarm(`${prefix}-${name}-verify-failed`))).toBe('critical');
      expect(severityOf(alarm(`${prefix}-${name}-row-count-mismatch`))).toBe('critical');
      const unreachable = alarm(`${prefix}-${name}-unreachable`);
      expect(unreachable).toMatchObject({ MetricName: 'DatabaseReachable', Threshold: 1, ComparisonOperator: 'LessThanThreshold' });
      // Consecutive failed probes span more than 5 minutes.
      expect((unreachable.EvaluationPeriods - 1) * unreachable.Period).toBeGreaterThanOrEqual(300);
      expect(alarm(`${prefix}-${name}-connections`)).toMatchObject({ MetricName: 'ConnectionsUsedPercent', Threshold: 90 });
      const storage = alarms.find((a) => a.AlarmName === `${prefix}-${name}-free-storage`);
      if (db.source.type === 'rds') expect(storage).toMatchObject({ MetricName: 'FreeStoragePercent', Threshold: 10, ComparisonOperator: 'LessThanThreshold' });
      else expect(storage).toBeUndefined();
      expect(alarm(`${prefix}-${name}-monitor-silent`)).toMatchObject({ MetricName: 'DatabaseReachable', Statistic: 'SampleCount', TreatMissingData: 'breaching' });
    });

    it('watches the dead-letter queue of each of its jobs, whose acknowledgement says so', () => {
      const a = alarm(`${prefix}-${name}-dead-letters`);
      const queues = a.Metrics.filter((m: any) => m.MetricStat).map((m: any) => m.MetricStat.Metric.Dimensions[0].Value['Fn::GetAtt'][0]);
      // dump, verify, restore, validate, monitor
      expect(queues).toHaveLength(5);
      for (const q of queues) {
        expect(resources[q].Type).toBe('AWS::SQS::Queue');
        const reasons = (resources[q].Metadata?.cdk_nag?.rules_to_suppress ?? []).map((s: any) => s.reason).join(' ');
        expect(reasons).toMatch(/alarmed/);
      }
    });

    it('has one composite "at risk" alarm over all of them', () => {
      const composite = ofType(resources, 'AWS::CloudWatch::CompositeAlarm').find(([, r]) => r.Properties.AlarmName === `${prefix}-${name}-at-risk`);
      expect(composite).toBeDefined();
      const rule = JSON.stringify(composite![1].Properties.AlarmRule);
      for (const a of own) expect(rule).toContain(a.id);
    });

    it('runs the monitor on a schedule, and an RPO breach fires the alarm within max(10 % of the RPO, 5 minutes)', () => {
      const schedule = ofType(resources, 'AWS::Scheduler::Schedule').find(([, r]) => r.Properties.Description === `pgdr: monitor the recovery objectives of ${name}`);
      expect(schedule).toBeDefined();
      const rate = /^rate\((\d+) minutes?\)$/.exec(schedule![1].Properties.ScheduleExpression);
      expect(rate).not.toBeNull();
      const monitorFn = stack.jobs.get(name)!.monitor!.job.function;
      expect(schedule![1].Properties.Target.Arn).toEqual({ 'Fn::GetAtt': [Stack.of(monitorFn).getLogicalId(monitorFn.node.defaultChild as any), 'Arn'] });
      const rpoAlarm = alarm(`${prefix}-${name}-rpo`);
      const worstCase = Number(rate![1]) * 60 + rpoAlarm.Period * rpoAlarm.EvaluationPeriods;
      expect(worstCase).toBeLessThanOrEqual(Math.max(0.1 * db.rpo.seconds, 300));
      // One sample per period: a missing run is a missing datapoint, not an average over two.
      expect(rpoAlarm.Period).toBe(Number(rate![1]) * 60);
    });

    it('gives the monitor its settings, its records, its secret and (RDS) its instance', () => {
      const fn = stack.jobs.get(name)!.monitor!.job.function;
      const props = resources[Stack.of(fn).getLogicalId(fn.node.defaultChild as any)].Properties;
      const settings = JSON.parse(props.Environment.Variables.PGDR_MONITOR);
      expect(settings).toMatchObject({ rpoSeconds: db.rpo.seconds, rtoSeconds: db.rto.seconds, pointInTimeRecovery: db.source.type === 'rds' && db.source.pointInTimeRecovery });
      expect(settings.classes.map((c: any) => [c.name, c.intervalSeconds])).toEqual(db.backupClasses.filter((c) => c.schedule).map((c) => [c.name, scheduleGapSeconds(c.schedule!.expression)]));
      expect(props.Environment.Variables.PGDR_SECRET_ARN).toBe(db.source.secretArn);
      const policies = ofType(resources, 'AWS::IAM::Policy').filter(([, r]) => r.Properties.Roles.some((role: any) => role.Ref === props.Role['Fn::GetAtt'][0]));
      const statements = policies.flatMap(([, r]) => r.Properties.PolicyDocument.Statement);
      const describe = statements.find((s: any) => [s.Action].flat().includes('rds:DescribeDBInstances'));
      if (db.source.type === 'rds') expect(JSON.stringify(describe.Resource)).toContain(`:db:${db.source.instanceIdentifier}`);
      else expect(describe).toBeUndefined();
      // The only statement on "*": metric reads and X-Ray (CDK merges them), no other action.
      const anywhere = statements.filter((s: any) => s.Resource === '*');
      expect(anywhere).toHaveLength(1);
      expect([anywhere[0].Action].flat().sort()).toEqual(['cloudwatch:GetMetricData', 'cloudwatch:GetMetricStatistics', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
      expect(statements.some((s: any) => [s.Action].flat().some((a: string) => /^s3:(Put|Delete)/.test(a)))).toBe(false);
    });

    it("builds its metrics with the contract's names and dimensions (monitor, dump, verify, failover, dead letters)", () => {
      const jobs = stack.jobs.get(name)!;
      const m = jobs.monitor!;
      const cls = db.backupClasses[0].name;
      const dims = (metric: cloudwatch.Metric) => metric.dimensions;
      const monitorMetrics = [m.metricBackupAge(), m.metricPitrLag(), m.metricEstimatedRto(), m.metricReachable(), m.metricConnectionsUsed(), m.metricFreeStorage(), m.metricDrillAge()];
      expect(monitorMetrics.map((x) => x.metricName).sort()).toEqual([...MONITOR_METRICS].sort());
      for (const x of monitorMetrics) expect({ ns: x.namespace, dims: dims(x) }).toEqual({ ns: 'PgDr', dims: { database: name } });
      expect(m.metricClassBackupAge(cls)).toMatchObject({ namespace: 'PgDr', metricName: 'BackupAgeSeconds', dimensions: { database: name, class: cls } });
      const classMetrics: [cloudwatch.Metric, string][] = [
        [jobs.dump.metricBackupFailed(cls), 'BackupFailed'],
        [jobs.verify.metricVerifyFailed(cls), 'VerifyFailed'],
        [jobs.verify.metricRowCountMismatches(cls), 'RowCountMismatches'],
        [jobs.verify.metricRestoreTestSeconds(cls), 'RestoreTestSeconds'],
      ];
      for (const [x, metricName] of classMetrics) expect({ ns: x.namespace, metricName: x.metricName, dims: dims(x) }).toEqual({ ns: 'PgDr', metricName, dims: { database: name, class: cls } });
      expect(stack.failover.metricRecoverySeconds({ database: name, mode: 'drill', source: 'dump' })).toMatchObject({
        namespace: 'PgDr',
        metricName: 'RecoverySeconds',
        dimensions: { database: name, mode: 'drill', source: 'dump' },
      });
      expect(stack.failover.metricRecoveryFailed({ database: name, mode: 'failover', source: 'dump' })).toMatchObject({ metricName: 'RecoveryFailed', statistic: 'Sum' });
      const dlq = jobs.dump.job.metricDeadLetters();
      expect(dlq).toMatchObject({ namespace: 'AWS/SQS', metricName: 'ApproximateNumberOfMessagesVisible', statistic: 'Maximum' });
    });
  });
});

describe('thresholds pinned for examples/4-school-admissions.json (hourly rate + daily cron in Sydney, rpo 1h)', () => {
  it('keeps the RPO free of the daylight-saving hour (the hourly rate meets it alone) but gives the daily cron class that hour', () => {
    const db = loadConfig('examples/4-school-admissions.json').databases[0];
    const t = databaseThresholds(db);
    expect(t.rpo).toEqual({ metric: 'BackupAgeSeconds', thresholdSeconds: 3600 + 15 * 60 + 15 * 60 });
    expect(t.staleClass).toEqual({ full: 86400 + 30 * 60 + 3600, hourly: 3600 + 30 * 60 });
    expect(detectionPlan(db.rpo.seconds)).toMatchObject({ monitorIntervalSeconds: 180, evaluationPeriods: 1, worstCaseSeconds: 360, budgetSeconds: 360 });
  });
});

describe('detectionPlan', () => {
  const rpos = [300, 301, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400, 30 * 86400];
  it.each(rpos)('rpo %i s: monitor interval + period × evaluation periods ≤ max(10 %% of the rpo, 5 min), whole minutes, ≤ 5 min', (rpo) => {
    const plan = detectionPlan(rpo);
    const budget = Math.max(rpo / 10, 300);
    expect(plan.monitorIntervalSeconds + plan.periodSeconds * plan.evaluationPeriods).toBeLessThanOrEqual(budget);
    expect(plan.worstCaseSeconds).toBe(plan.monitorIntervalSeconds + plan.periodSeconds * plan.evaluationPeriods);
    expect(plan.monitorIntervalSeconds % 60).toBe(0);
    expect(plan.monitorIntervalSeconds).toBeGreaterThanOrEqual(60);
    expect(plan.monitorIntervalSeconds).toBeLessThanOrEqual(300);
    expect(plan.periodSeconds).toBe(plan.monitorIntervalSeconds);
    expect(plan.evaluationPeriods).toBeGreaterThanOrEqual(1);
  });

  it('uses the default 5-minute interval and three datapoints when the budget is wide (daily RPO)', () => {
    expect(detectionPlan(86400)).toEqual({ monitorIntervalSeconds: 300, periodSeconds: 300, evaluationPeriods: 3, budgetSeconds: 8640, worstCaseSeconds: 1200 });
  });

  it('rejects a non-positive rpo naming the field', () => {
    expect(() => detectionPlan(0)).toThrow(/^rpo: must be positive/);
  });

  it('holds for every shipped configuration', () => {
    for (const path of SHIPPED_CONFIGS) {
      for (const db of loadConfig(path).databases) {
        expect({ path, db: db.name, ok: detectionPlan(db.rpo.seconds).worstCaseSeconds <= Math.max(db.rpo.seconds / 10, 300) }).toEqual({ path, db: db.name, ok: true });
      }
    }
  });
});

describe('paging endpoints kept in Secrets Manager (examples/3-clinic-booking.json)', () => {
  const config = loadConfig('examples/3-clinic-booking.json');
  const { template } = synthConfig(config);
  const text = JSON.stringify(template.toJSON());

  it('subscribes the critical topic to the URL through a {{resolve:secretsmanager}} reference: the template never holds the URL', () => {
    const [ref] = config.paging.critical.httpsEndpointSecrets;
    expect(ref).toBeDefined();
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'https',
      Endpoint: `{{resolve:secretsmanager:${ref.secretArn}:SecretString:${ref.jsonField}::}}`,
      TopicArn: { Ref: Object.entries(template.findResources('AWS::SNS::Topic')).find(([, r]) => r.Properties.TopicName === `${config.stackName}-critical`)![0] },
    });
    expect(text).not.toMatch(/apiKey=|opsgenie\.com/);
  });

  it('rejects a reference that is not a complete secret ARN, naming the field', () => {
    const raw = JSON.parse(readFileSync('examples/3-clinic-booking.json', 'utf8'));
    raw.paging.critical.httpsEndpointSecrets = [{ secretArn: 'pgdr/opsgenie' }];
    const dir = mkdtempSync(join(tmpdir(), 'pgdr-paging-'));
    try {
      const file = join(dir, 'config.json');
      writeFileSync(file, JSON.stringify(raw));
      expect(() => loadConfig(file)).toThrow(/paging\.critical\.httpsEndpointSecrets\[0\]\.secretArn: must be the complete Secrets Manager secret ARN/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('AlarmFactory and MonitorJob refuse what CloudWatch and the schedule cannot do, naming the prop', () => {
  const { stack } = synthConfig('pgdr.config.json');
  const jobs = stack.jobs.get('shop')!;

  it('rejects datapointsToAlarm above evaluationPeriods and a zero evaluationPeriods', () => {
    const factory = new AlarmFactory(stack, { topics: stack.topics });
    const base = {
      severity: 'warning' as const,
      metric: jobs.monitor!.metricBackupAge(),
      threshold: 1,
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      summary: 'test.',
      runbookSection: 'test',
    };
    expect(() => factory.metricAlarm({ ...base, name: 'a', evaluationPeriods: 2, datapointsToAlarm: 3 })).toThrow(/^datapointsToAlarm of alarm "a": must be 1 to evaluationPeriods \(2\) \(received 3\)$/);
    expect(() => factory.metricAlarm({ ...base, name: 'b', evaluationPeriods: 0 })).toThrow(/^evaluationPeriods of alarm "b": must be a whole number ≥ 1 \(received 0\)$/);
    expect(factory.alarmName('rpo', 'shop')).toBe('Pgdr-shop-rpo');
    expect(factory.alarmName('failover-failed')).toBe('Pgdr-failover-failed');
  });

  it('rejects a monitor interval that is not whole minutes from 1 to 60', () => {
    const props = {
      database: 'other',
      secret: secretsmanager.Secret.fromSecretCompleteArn(stack, 'OtherSecret', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgdr/other-AbCdEf'),
      vault: stack.vault,
      pgTools: [...stack.pgTools.values()][0],
      vpc: stack.network.vpc,
      settings: { classes: [], pointInTimeRecovery: false, defaultInstanceCreateSeconds: 1200, rtoSeconds: 3600, rpoSeconds: 86400 },
    };
    expect(() => new MonitorJob(stack, 'M1', { ...props, interval: Duration.seconds(90) })).toThrow(/^interval: must be whole minutes from 1 to 60 \(received 1 minute 30 seconds\)$/);
    expect(() => new MonitorJob(stack, 'M2', { ...props, interval: Duration.hours(2) })).toThrow(/^interval: must be whole minutes from 1 to 60/);
  });
});
