import { Match } from 'aws-cdk-lib/assertions';
import { loadConfig } from '../../lib/config';
import { synthConfig } from './synth';

/** Collects every IAM action granted in the template. */
function allActions(template: any): string[] {
  return Object.values(template.findResources('AWS::IAM::Policy') as Record<string, any>).flatMap((p) =>
    p.Properties.PolicyDocument.Statement.flatMap((s: any) => (Array.isArray(s.Action) ? s.Action : [s.Action])),
  );
}

describe('dump and verify jobs (examples/4-school-admissions.json: two classes, a restore-test schedule)', () => {
  const config = loadConfig('examples/4-school-admissions.json');
  const db = config.databases[0];
  const { template } = synthConfig('examples/4-school-admissions.json');

  it('has one dump and one verify function on Node 24, in the VPC, with the pg tools layer', () => {
    template.resourcePropertiesCountIs('AWS::Lambda::Function', { Description: `pgdr dump job of ${db.name}` }, 1);
    template.resourcePropertiesCountIs('AWS::Lambda::Function', { Description: `pgdr verify job of ${db.name}` }, 1);
    for (const job of ['dump', 'verify']) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: `pgdr ${job} job of ${db.name}`,
        Runtime: 'nodejs24.x',
        Handler: 'index.handler',
        Layers: [{ Ref: Match.stringLikeRegexp('PgTools15') }],
        VpcConfig: { SecurityGroupIds: [{ 'Fn::GetAtt': [Match.stringLikeRegexp(`${job === 'dump' ? 'Dump' : 'Verify'}SecurityGroup`), 'GroupId'] }], SubnetIds: Match.anyValue() },
        TracingConfig: { Mode: 'Active' },
      });
    }
    template.resourceCountIs('AWS::Lambda::LayerVersion', 1);
  });

  it('takes memory and timeout from the configuration and passes no secret in the environment', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: `pgdr dump job of ${db.name}`,
      MemorySize: db.jobs.dump.memoryMiB,
      Timeout: db.jobs.dump.timeout.seconds,
      Environment: {
        Variables: Match.objectLike({
          PGDR_DATABASE: db.name,
          PGDR_SECRET_ARN: db.source.secretArn,
          PGDR_PG_BIN: '/opt/bin',
          PGDR_PG_SSLMODE: 'verify-full',
          PGDR_PG_SSLROOTCERT: 'public',
          POWERTOOLS_METRICS_NAMESPACE: 'PgDr',
          PGDR_BUCKET: { Ref: Match.stringLikeRegexp('VaultDumps') },
        }),
      },
    });
    const env = JSON.stringify(template.findResources('AWS::Lambda::Function'));
    expect(env).not.toMatch(/PASSWORD|PGPASSWORD|postgres:\/\//i);
  });

  it('hands the verification policy to the verify job', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: `pgdr verify job of ${db.name}`,
      MemorySize: db.jobs.verify.memoryMiB,
      // Room for the decompressed dump: the restore test runs pg_restore --jobs from a file there.
      EphemeralStorage: { Size: db.jobs.verify.ephemeralStorageMiB },
      Environment: {
        Variables: Match.objectLike({
          PGDR_VERIFICATION: JSON.stringify({ restoreTestEveryNth: db.verification.restoreTestEveryNth, smokeQueries: db.verification.smokeQueries }),
          PGDR_WORK_DIR: '/tmp',
          PGDR_RESTORE_JOBS: '2',
        }),
      },
    });
  });

  it('schedules each backup class with its own time zone and input', () => {
    for (const c of db.backupClasses) {
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: c.schedule!.expression,
        ScheduleExpressionTimezone: c.schedule!.timeZone,
        State: 'ENABLED',
        Target: {
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('DumpFunction'), 'Arn'] },
          Input: JSON.stringify({ backupClass: c.name }),
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('DumpDeadLetters'), 'Arn'] } },
          RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
        },
      });
    }
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: db.verification.restoreTestSchedule!.expression,
      Target: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('VerifyFunction'), 'Arn'] }, Input: JSON.stringify({ restoreTest: true }) },
    });
  });

  it('routes every new manifest of the database to the verify job through EventBridge', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.s3'],
        'detail-type': ['Object Created'],
        detail: { bucket: { name: [{ Ref: Match.stringLikeRegexp('VaultDumps') }] }, object: { key: [{ wildcard: `${db.name}/*.manifest.json` }] } },
      },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('VerifyFunction'), 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 2 } })],
    });
  });

  it('retries failed invocations once and parks them in an encrypted dead-letter queue', () => {
    template.resourcePropertiesCountIs('AWS::Lambda::EventInvokeConfig', { MaximumRetryAttempts: 1 }, 2);
    // The failover's restore and validate jobs are invoked synchronously by the state machine: no retry, the same kind of queue.
    // The monitor (issue 7) does not retry either: a failed run is replaced by the next one within minutes, which a retry would only overlap.
    template.resourcePropertiesCountIs('AWS::Lambda::EventInvokeConfig', { MaximumRetryAttempts: 0 }, 3);
    // dump, verify, restore, validate and (issue 7) monitor: one dead-letter queue each.
    // ... and the drill schedules' dead-letter queue (this example schedules a drill).
    template.resourcePropertiesCountIs('AWS::SQS::Queue', { SqsManagedSseEnabled: true }, 6);
  });

  it('grants least privilege: no wildcard actions, no deletes, its own prefix and its one secret', () => {
    const actions = allActions(template);
    expect(actions.filter((a) => a.includes('*'))).toEqual([]);
    // logs:DeleteLogDelivery is how Step Functions manages the log delivery of the tools build's waiter; it deletes no data.
    expect(actions.filter((a) => /Delete|PutObjectRetention|BypassGovernance/.test(a) && a !== 'logs:DeleteLogDelivery')).toEqual([]);
    for (const statement of [
      { Action: ['s3:AbortMultipartUpload', 's3:PutObject'], Resource: { 'Fn::Join': ['', [Match.anyValue(), `/${db.name}/*`]] } },
      { Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'], Resource: db.source.secretArn },
    ]) {
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: Match.stringLikeRegexp('DumpFunctionServiceRole') }],
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike(statement)]) },
      });
    }
  });

  it('lets the jobs out on HTTPS and the database port only', () => {
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp(`dump job of ${db.name}`),
      SecurityGroupEgress: [
        Match.objectLike({ CidrIp: '0.0.0.0/0', FromPort: 443, ToPort: 443, IpProtocol: 'tcp' }),
        Match.objectLike({ CidrIp: '0.0.0.0/0', FromPort: 5432, ToPort: 5432, IpProtocol: 'tcp' }),
      ],
    });
  });
});

describe('databases of different majors get one layer each; a configured layer ARN is used as is', () => {
  it('examples/2-retail-inventory.json uses PostgreSQL 16 tools', () => {
    const { template } = synthConfig('examples/2-retail-inventory.json');
    template.hasResourceProperties('AWS::Lambda::Function', { Layers: [{ Ref: Match.stringLikeRegexp('PgTools16') }] });
  });
});
