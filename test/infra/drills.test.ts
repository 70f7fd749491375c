/**
 * Scheduled drills: every database with `drill.schedule` gets an EventBridge Scheduler schedule
 * that starts the failover state machine in drill mode, with the configured cron and time zone
 * and the source the database can use.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { readFileSync } from 'node:fs';
import { loadConfig, parseConfig } from '../../lib/config';
import { defaultDrillSource } from '../../lib/drill-schedules';
import { SHIPPED_CONFIGS, synthConfig } from './synth';

describe.each(SHIPPED_CONFIGS.filter((c) => loadConfig(c).databases.some((d) => d.drill.schedule)))('%s', (file) => {
  const config = loadConfig(file);
  const { template } = synthConfig(config);

  it('schedules a drill per database that asks for one, starting the state machine with mode drill and no approval', () => {
    for (const db of config.databases.filter((d) => d.drill.schedule)) {
      const input = { database: db.name, source: db.drill.source ?? defaultDrillSource(db.source), mode: 'drill', approval: 'skip' };
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: db.drill.schedule!.expression,
        ScheduleExpressionTimezone: db.drill.schedule!.timeZone ?? 'UTC',
        Target: {
          Arn: { Ref: Match.stringLikeRegexp('^FailoverStateMachine') },
          Input: JSON.stringify(input),
          RetryPolicy: { MaximumRetryAttempts: 2 },
          DeadLetterConfig: { Arn: Match.anyValue() },
        },
      });
    }
    const schedules = Object.values(template.findResources('AWS::Scheduler::Schedule')).filter((s) => JSON.parse(String(s.Properties.Target.Input ?? '{}')).mode === 'drill');
    expect(schedules).toHaveLength(config.databases.filter((d) => d.drill.schedule).length);
  });

  it("lets the drills' role start the failover state machine and park failed deliveries, nothing else", () => {
    const policies = Object.values(template.findResources('AWS::IAM::Policy')) as { Properties: { Roles: { Ref: string }[]; PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } } }[];
    const drillPolicies = policies.filter((p) => p.Properties.Roles.some((r) => r.Ref.startsWith('DrillsRole')));
    expect(drillPolicies.flatMap((p) => p.Properties.PolicyDocument.Statement)).toEqual([
      expect.objectContaining({ Action: 'states:StartExecution', Resource: { Ref: expect.stringMatching(/^FailoverStateMachine/) } }),
      expect.objectContaining({ Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [expect.stringMatching(/^DrillsDeadLetters/), 'Arn'] } }),
    ]);
  });
});

it('picks the drill source a database can use, and refuses one it cannot', () => {
  expect(defaultDrillSource({ type: 'rds', pointInTimeRecovery: true })).toBe('pitr');
  expect(defaultDrillSource({ type: 'rds', pointInTimeRecovery: false })).toBe('snapshot');
  expect(defaultDrillSource({ type: 'external' })).toBe('dump');
  const doc = JSON.parse(readFileSync('pgdr.config.json', 'utf8'));
  doc.databases[0].drill = { schedule: { expression: 'cron(0 4 1 * ? *)' }, source: 'pitr' };
  expect(() => parseConfig(doc)).toThrow(/databases\[0\]\.drill\.source: is "pitr", which needs an RDS source with pointInTimeRecovery; use "dump"/);
});
