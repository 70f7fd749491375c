/**
 * The failover workflow as synthesized (examples/3-clinic-booking.json: an RDS source with PITR and
 * cutover targets): the definition has the three sources, the poll loop, the task-token approval,
 * SNS notifications, a Catch on every Task, logging and tracing; asl-validator passes; the RDS
 * rights are scoped to the source and to recovery instances; the topics are KMS-encrypted.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { readFileSync } from 'node:fs';
import { failoverRestoreJobs, instanceClassVcpus, loadConfig, parseConfig } from '../../lib/config';
import { RECOVERY_INSTANCE_PREFIX, STATES } from '../../lib/failover-workflow';
import { aslErrors, failoverDefinition } from '../../local/failover-runner';
import { synthConfig } from './synth';

const CONFIG = 'examples/3-clinic-booking.json';

describe('failover workflow (examples/3-clinic-booking.json)', () => {
  const config = loadConfig(CONFIG);
  const { template, violations } = synthConfig(config);
  const definition = failoverDefinition(template);
  const states = definition.States as Record<string, Record<string, unknown>>;
  const tasks = Object.entries(states).filter(([, s]) => s.Type === 'Task');

  it('passes asl-validator and cdk-nag', () => {
    expect(aslErrors(definition)).toEqual([]);
    expect(violations).toEqual([]);
  });

  it('restores from PITR (latest or a time), a snapshot, or creates an instance for a dump, in the Step Functions spelling', () => {
    expect(states[STATES.restorePitrLatest]).toMatchObject({ Resource: 'arn:aws:states:::aws-sdk:rds:restoreDBInstanceToPointInTime', Parameters: { UseLatestRestorableTime: true, 'SourceDBInstanceIdentifier.$': '$.plan.pitr.sourceInstanceIdentifier' } });
    expect(states[STATES.restorePitrAt]).toMatchObject({ Parameters: { 'RestoreTime.$': '$.plan.pitr.restoreTime' } });
    expect(states[STATES.restoreSnapshot]).toMatchObject({ Resource: 'arn:aws:states:::aws-sdk:rds:restoreDBInstanceFromDBSnapshot', Parameters: { 'DbSnapshotIdentifier.$': '$.plan.snapshot.snapshotIdentifier' } });
    expect(states[STATES.createInstance]).toMatchObject({ Resource: 'arn:aws:states:::aws-sdk:rds:createDBInstance', Parameters: { ManageMasterUserPassword: true, StorageEncrypted: true, PubliclyAccessible: false } });
    for (const name of [STATES.restorePitrLatest, STATES.restorePitrAt, STATES.restoreSnapshot, STATES.createInstance]) {
      expect(states[name].Parameters).toMatchObject({ 'Tags.$': '$.plan.rds.Tags', 'DeletionProtection.$': '$.plan.rds.DeletionProtection', 'DbInstanceClass.$': '$.plan.rds.DBInstanceClass' });
    }
  });

  it('polls DescribeDBInstances behind a Wait, checks the RTO and the hard timeout on the way, and ends on terminal statuses', () => {
    expect(states[STATES.wait]).toMatchObject({ Type: 'Wait', Seconds: 30, Next: STATES.describe });
    expect(states[STATES.describe]).toMatchObject({ Resource: 'arn:aws:states:::aws-sdk:rds:describeDBInstances', Next: STATES.status });
    const status = JSON.stringify(states[STATES.status]);
    for (const s of ['available', 'failed', 'incompatible-restore', 'storage-full']) expect(status).toContain(`"${s}"`);
    expect(JSON.stringify(states[STATES.budget])).toContain('"TimestampGreaterThanPath":"$.plan.hardDeadline"');
    expect(JSON.stringify(states[STATES.budget])).toContain('"TimestampGreaterThanPath":"$.plan.rtoDeadline"');
    expect(states[STATES.notifyRto]).toMatchObject({ Resource: 'arn:aws:states:::sns:publish', Next: STATES.markRto });
  });

  it('asks for approval with a task token on the critical topic, with the timeout from the plan', () => {
    expect(states[STATES.approve]).toMatchObject({
      Resource: 'arn:aws:states:::sns:publish.waitForTaskToken',
      TimeoutSecondsPath: '$.plan.approvalTimeoutSeconds',
      Parameters: { 'TopicArn.$': '$.topics.critical', 'Message.$': expect.stringContaining('$$.Task.Token') },
    });
  });

  it('has a Catch on every Task, and the failure path reports, notifies and ends in a Fail state naming the error', () => {
    expect(tasks.length).toBeGreaterThan(15);
    for (const [name, state] of tasks) {
      const catches = (state.Catch ?? []) as { ErrorEquals: string[] }[];
      expect([name, catches.some((c) => c.ErrorEquals.includes('States.ALL'))]).toEqual([name, true]);
    }
    expect(states[STATES.fail]).toMatchObject({ Type: 'Fail', ErrorPath: '$.failure.Error', CausePath: '$.failure.Cause' });
    expect(states[STATES.rejected]).toMatchObject({ Type: 'Fail', ErrorPath: '$.failure.Error' });
    expect(states[STATES.notifyFailure]).toMatchObject({ Resource: 'arn:aws:states:::sns:publish', Next: STATES.fail });
  });

  it('never reaches the cutover from the failure path, and reaches it only after a passed validation', () => {
    // Every path into Cutover: from CutoverOrDrill (after ValidationPassed) or Approved.
    const into = Object.entries(states).filter(([, s]) => JSON.stringify(s).includes(`"Next":"${STATES.cutover}"`) || JSON.stringify(s).includes(`"Default":"${STATES.cutover}"`)).map(([n]) => n);
    expect(into.sort()).toEqual([STATES.approved, STATES.whatNext].sort());
    expect(JSON.stringify(states[STATES.validated])).toContain('"Variable":"$.validation.ok","BooleanEquals":true,"Next":"CutoverOrDrill"');
  });

  it('logs every execution to a KMS-encrypted log group and traces with X-Ray', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: true, Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('FailoverLogs'), 'Arn'] } } }] },
      TracingConfiguration: { Enabled: true },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: Match.stringLikeRegexp('/failover$'), KmsKeyId: Match.anyValue() });
  });

  it('scopes RDS writes to the source instance and to recovery instances (pgdr-*), never "*"', () => {
    const policies = Object.values(template.findResources('AWS::IAM::Policy')) as { Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } } }[];
    const rdsStatements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement).filter((s) => [s.Action].flat().some((a) => a.startsWith('rds:')));
    expect(rdsStatements.length).toBeGreaterThan(0);
    for (const s of rdsStatements) expect([s.Resource].flat()).not.toContain('*');
    const text = JSON.stringify(rdsStatements);
    expect(text).toContain(`:db:${RECOVERY_INSTANCE_PREFIX}*`);
    const db = config.databases[0];
    if (db.source.type === 'rds') expect(text).toContain(`:db:${db.source.instanceIdentifier}`);
  });

  it('publishes to KMS-encrypted, TLS-only topics per severity', () => {
    for (const severity of ['critical', 'warning']) {
      template.hasResourceProperties('AWS::SNS::Topic', { TopicName: `${config.stackName}-${severity}`, KmsMasterKeyId: Match.anyValue() });
    }
    template.hasResourceProperties('AWS::SNS::TopicPolicy', { PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) } });
  });

  it('renders the per-database settings into the definition: ARNs and queries, never a password', () => {
    const configure = JSON.stringify(states[STATES.configure]);
    const db = config.databases[0];
    expect(configure).toContain(`"rtoSeconds":${db.rto.seconds}`);
    expect(configure).not.toMatch(/password/i);
  });
});

describe('failover configuration', () => {
  const raw = (): { databases: Record<string, unknown>[] } => JSON.parse(readFileSync(CONFIG, 'utf8'));
  it('refuses a hard timeout shorter than the rto, a health check over http and an unknown deleteOnFailure, naming each field', () => {
    const doc = raw();
    doc.databases[0].rto = '1h';
    doc.databases[0].failover = { ...(doc.databases[0].failover as object), hardTimeout: '10m', healthCheck: { url: 'http://app.example.com/health' }, deleteOnFailure: 'sometimes' };
    let message = '';
    try {
      parseConfig(doc);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/databases\[0\]\.failover\.healthCheck\.url/);
    expect(message).toMatch(/databases\[0\]\.failover\.deleteOnFailure/);
    const fixed = raw();
    fixed.databases[0].rto = '1h';
    fixed.databases[0].failover = { ...(fixed.databases[0].failover as object), hardTimeout: '10m' };
    expect(() => parseConfig(fixed)).toThrow(/databases\[0\]\.failover\.hardTimeout: is shorter than the rto \(1h\)/);
  });
});

describe('pg_restore --jobs of the failover restore', () => {
  const raw = (): { databases: Record<string, unknown>[] } => JSON.parse(readFileSync(CONFIG, 'utf8'));
  const withFailover = (failover: Record<string, unknown>) => {
    const doc = raw();
    doc.databases[0].failover = { ...(doc.databases[0].failover as object), ...failover };
    return doc;
  };
  const restoreJobsOf = (doc: unknown): string => {
    const { template } = synthConfig(parseConfig(doc));
    const restore = Object.values(template.findResources('AWS::Lambda::Function') as Record<string, any>).filter((f) => /^pgdr restore job/.test(f.Properties.Description ?? ''));
    expect(restore).toHaveLength(1);
    return restore[0].Properties.Environment.Variables.PGDR_RESTORE_JOBS;
  };

  it('follows the vCPUs of the recovery instance class, 2 to 16, unless failover.restoreJobs says otherwise', () => {
    expect(instanceClassVcpus('db.t4g.micro')).toBe(2);
    expect(instanceClassVcpus('db.m6g.large')).toBe(2);
    expect(instanceClassVcpus('db.r6g.xlarge')).toBe(4);
    expect(instanceClassVcpus('db.r6g.2xlarge')).toBe(8);
    expect(instanceClassVcpus('db.x2g.16xlarge')).toBe(64);
    expect(instanceClassVcpus('db.m5d.metal')).toBeUndefined();
    expect(failoverRestoreJobs({ instanceClass: 'db.t4g.medium' })).toBe(2);
    expect(failoverRestoreJobs({ instanceClass: 'db.r6g.2xlarge' })).toBe(8);
    expect(failoverRestoreJobs({ instanceClass: 'db.x2g.16xlarge' })).toBe(16);
    expect(failoverRestoreJobs({ instanceClass: 'db.m5d.metal' })).toBe(2);
    expect(failoverRestoreJobs({ instanceClass: 'db.r6g.16xlarge', restoreJobs: 3 })).toBe(3);
  });

  it('reaches the restore Lambda as PGDR_RESTORE_JOBS: the class (examples/3 db.t4g.large: 2; db.r6g.2xlarge: 8) or the configured value', () => {
    expect(restoreJobsOf(raw())).toBe('2');
    expect(restoreJobsOf(withFailover({ instanceClass: 'db.r6g.2xlarge' }))).toBe('8');
    expect(restoreJobsOf(withFailover({ instanceClass: 'db.r6g.2xlarge', restoreJobs: 5 }))).toBe('5');
  });

  it('refuses restoreJobs outside 1-16, naming the field', () => {
    for (const restoreJobs of [0, 17, 2.5]) expect(() => parseConfig(withFailover({ restoreJobs }))).toThrow(/databases\[0\]\.failover\.restoreJobs/);
  });
});
