/**
 * The local RDS simulator (test/support/rds-simulator.ts) through the real @aws-sdk/client-rds
 * client: each action's happy path and lifecycle, the strictness (unknown parameter, missing
 * required, bad identifier), real PostgreSQL copies behind restores, deletion protection, failure
 * injection, and everything stopped at the end.
 */
import {
  CreateDBInstanceCommand,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  DBInstance,
  ModifyDBInstanceCommand,
  RDSClient,
  RestoreDBInstanceFromDBSnapshotCommand,
  RestoreDBInstanceToPointInTimeCommand,
  RestoreDBInstanceToPointInTimeCommandInput,
} from '@aws-sdk/client-rds';
import { Client } from 'pg';
import { PgCluster } from '../../local/pg-cluster';
import { RdsSimulator } from '../../local/rds-simulator';
import { ACTIONS, checkParameterNames, identifierError, modelRequired, REQUIRED } from '../../local/rds/params';
import { stepFunctionsError, stepFunctionsMember } from '../../local/rds/sdk-task';

const SOURCE = 'prod-db';
const SNAPSHOT = 'rds:prod-db-2026-11-25-03-00';
const clock = new Date('2026-11-25T12:00:00Z');
let source: PgCluster | undefined;
let sim: RdsSimulator | undefined;
let rds: RDSClient;

beforeAll(async () => {
  source = await PgCluster.start();
  await source.sql('postgres', "CREATE TABLE orders (id int PRIMARY KEY, item text); INSERT INTO orders VALUES (1, 'apple'), (2, 'pear')");
  sim = await RdsSimulator.start({ now: () => clock });
  await sim.registerSource(SOURCE, source, { tags: [{ Key: 'app', Value: 'shop' }] });
  sim.addSnapshot(SOURCE, SNAPSHOT, 'automated', new Date('2026-11-25T03:00:00Z'));
  sim.addSnapshot(SOURCE, 'before-upgrade', 'manual', new Date('2026-11-20T10:00:00Z'));
  rds = sim.client();
});

afterAll(async () => {
  rds?.destroy();
  await sim?.stop();
  await source?.stop();
});

function simulator(): RdsSimulator {
  if (!sim) throw new Error('simulator not started');
  return sim;
}

async function describe1(id: string): Promise<DBInstance> {
  const out = await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }));
  expect(out.DBInstances).toHaveLength(1);
  return (out.DBInstances ?? [])[0];
}

/** Polls DescribeDBInstances (each call advances the instance one step) until it leaves creating/backing-up; returns the statuses seen. */
async function pollUntilSettled(id: string): Promise<{ seen: string[]; last: DBInstance }> {
  const seen: string[] = [];
  for (let i = 0; i < 10; i++) {
    const instance = await describe1(id);
    seen.push(instance.DBInstanceStatus ?? '?');
    if (!['creating', 'backing-up'].includes(instance.DBInstanceStatus ?? '')) return { seen, last: instance };
  }
  throw new Error(`${id} never settled: ${seen.join(' ')}`);
}

async function rejection(promise: Promise<unknown>): Promise<{ name: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    return { name: (err as Error).name, message: (err as Error).message };
  }
  throw new Error('expected the call to be rejected');
}

async function query(instance: DBInstance, user: string, password: string, database: string, text: string): Promise<unknown[]> {
  const client = new Client({ host: instance.Endpoint?.Address, port: instance.Endpoint?.Port, user, password, database });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

/** Sends a raw Query API request (the SDK drops members its model does not know, so a misspelled key only shows up raw). */
async function rawPost(body: string): Promise<{ status: number; text: string }> {
  const res = await fetch(simulator().endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  return { status: res.status, text: await res.text() };
}

describe('request rules (pure)', () => {
  test('the required parameters are the RDS model required members of each action', () => {
    for (const action of ACTIONS) expect(REQUIRED[action]).toEqual(modelRequired(action));
  });

  test('Step Functions Parameters keys are checked too: a misspelled key is named', () => {
    expect(checkParameterNames('RestoreDBInstanceToPointInTime', ['TargetDBInstanceIdentifier', 'SourceDBInstanceIdentifer'])).toEqual({
      code: 'InvalidParameterValue',
      message: 'unknown parameter SourceDBInstanceIdentifer for RestoreDBInstanceToPointInTime',
    });
    expect(checkParameterNames('CreateDBInstance', ['DBInstanceIdentifier', 'Engine', 'Tags.Tag.1.Key'])?.message).toBe('CreateDBInstance requires the parameter DBInstanceClass');
    expect(checkParameterNames('DeleteDBInstance', ['DBInstanceIdentifier', 'SkipFinalSnapshot'])).toBeUndefined();
  });

  test.each(['', '1db', 'db--1', 'db-', 'db_1', 'db.1', 'a'.repeat(64)])('identifier %j is rejected', (id) => {
    expect(identifierError('DBInstanceIdentifier', id)?.code).toBe('InvalidParameterValue');
  });

  test.each(['a', 'drill-2026-11-25', 'A1-b2', 'a'.repeat(63)])('identifier %j is accepted', (id) => {
    expect(identifierError('DBInstanceIdentifier', id)).toBeUndefined();
  });
});

describe('RDS simulator through @aws-sdk/client-rds', () => {
  test('DescribeDBInstances: the registered source, all instances, and DBInstanceNotFound', async () => {
    const instance = await describe1(SOURCE);
    expect(instance).toMatchObject({
      DBInstanceIdentifier: SOURCE,
      DBInstanceStatus: 'available',
      Engine: 'postgres',
      Endpoint: { Address: '127.0.0.1', Port: source?.port },
      MasterUsername: 'postgres',
      DeletionProtection: true,
      StorageEncrypted: true,
      MultiAZ: false,
      TagList: [{ Key: 'app', Value: 'shop' }],
      LatestRestorableTime: clock,
    });
    expect(instance.EngineVersion).toMatch(/^\d+\.\d+/);
    expect(instance.InstanceCreateTime).toBeInstanceOf(Date);
    const all = await rds.send(new DescribeDBInstancesCommand({}));
    expect(all.DBInstances?.map((i) => i.DBInstanceIdentifier)).toContain(SOURCE);
    const missing = await rejection(rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'no-such-db' })));
    expect(missing).toEqual({ name: 'DBInstanceNotFoundFault', message: 'DBInstance no-such-db not found.' });
  });

  test('strict: an unknown parameter, a missing required one and a bad identifier are rejected before anything is created', async () => {
    const unknown = await rawPost('Action=RestoreDBInstanceToPointInTime&Version=2014-10-31&TargetDBInstanceIdentifier=drill-a&SourceDBInstanceIdentifer=prod-db&UseLatestRestorableTime=true');
    expect(unknown.status).toBe(400);
    expect(unknown.text).toContain('<Code>InvalidParameterValue</Code>');
    expect(unknown.text).toContain('unknown parameter SourceDBInstanceIdentifer for RestoreDBInstanceToPointInTime');

    const missing = await rejection(rds.send(new RestoreDBInstanceToPointInTimeCommand({ SourceDBInstanceIdentifier: SOURCE, UseLatestRestorableTime: true } as RestoreDBInstanceToPointInTimeCommandInput)));
    expect(missing).toEqual({ name: 'MissingParameter', message: 'RestoreDBInstanceToPointInTime requires the parameter TargetDBInstanceIdentifier' });

    const badId = await rejection(rds.send(new RestoreDBInstanceToPointInTimeCommand({ TargetDBInstanceIdentifier: 'drill--1', SourceDBInstanceIdentifier: SOURCE, UseLatestRestorableTime: true })));
    expect(badId.name).toBe('InvalidParameterValue');
    expect(badId.message).toContain('TargetDBInstanceIdentifier "drill--1" is not a valid identifier');

    const both = await rejection(rds.send(new RestoreDBInstanceToPointInTimeCommand({ TargetDBInstanceIdentifier: 'drill-b', SourceDBInstanceIdentifier: SOURCE, UseLatestRestorableTime: true, RestoreTime: clock })));
    expect(both.name).toBe('InvalidParameterCombination');
    const tooOld = await rejection(rds.send(new RestoreDBInstanceToPointInTimeCommand({ TargetDBInstanceIdentifier: 'drill-b', SourceDBInstanceIdentifier: SOURCE, RestoreTime: new Date('2026-11-01T00:00:00Z') })));
    expect(tooOld.name).toBe('InvalidRestoreFault');
    const noPassword = await rejection(rds.send(new CreateDBInstanceCommand({ DBInstanceIdentifier: 'new-db', DBInstanceClass: 'db.t4g.micro', Engine: 'postgres', MasterUsername: 'admin1', AllocatedStorage: 20 })));
    expect(noPassword.name).toBe('InvalidParameterCombination');

    const filtered = await rejection(rds.send(new DescribeDBInstancesCommand({ Filters: [{ Name: 'engine', Values: ['postgres'] }] })));
    expect(filtered).toEqual({ name: 'InvalidParameterCombination', message: 'DescribeDBInstances: Filters is not simulated' });
    const rename = await rejection(rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: SOURCE, NewDBInstanceIdentifier: 'prod-old' })));
    expect(rename).toEqual({ name: 'InvalidParameterCombination', message: 'ModifyDBInstance: NewDBInstanceIdentifier is not simulated' });

    const bad = await rawPost('Action=DeleteDBInstance&Version=2014-10-31&DBInstanceIdentifier=prod-db&SkipFinalSnapshot=yes');
    expect(bad.text).toContain('<Code>InvalidParameterValue</Code>');
    expect(simulator().instanceIds()).toEqual([SOURCE]);
    expect(simulator().clusterPids()).toEqual([]);
  });

  test('RestoreDBInstanceToPointInTime: creating → backing-up → available, a real copy of the source; deletion protection blocks delete until modified', async () => {
    const out = await rds.send(new RestoreDBInstanceToPointInTimeCommand({
      TargetDBInstanceIdentifier: 'drill-pitr', SourceDBInstanceIdentifier: SOURCE, UseLatestRestorableTime: true,
      DBInstanceClass: 'db.t4g.small', DeletionProtection: true, Tags: [{ Key: 'pgdr:drill', Value: 'true' }],
    }));
    expect(out.DBInstance).toMatchObject({ DBInstanceIdentifier: 'drill-pitr', DBInstanceStatus: 'creating', DBInstanceClass: 'db.t4g.small', StorageEncrypted: true, DeletionProtection: true, TagList: [{ Key: 'pgdr:drill', Value: 'true' }] });
    expect(out.DBInstance?.Endpoint).toBeUndefined();

    const { seen, last } = await pollUntilSettled('drill-pitr');
    expect(seen).toEqual(['creating', 'backing-up', 'available']);
    expect(last.Endpoint?.Port).not.toBe(source?.port);
    expect(await query(last, 'postgres', source?.password ?? '', 'postgres', 'SELECT id, item FROM orders ORDER BY id')).toEqual([{ id: 1, item: 'apple' }, { id: 2, item: 'pear' }]);

    const protectedDelete = await rejection(rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: 'drill-pitr', SkipFinalSnapshot: true })));
    expect(protectedDelete.name).toBe('InvalidParameterCombination');
    expect(simulator().clusterPids()).toHaveLength(1);

    const modified = await rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: 'drill-pitr', DeletionProtection: false, ApplyImmediately: true }));
    expect(modified.DBInstance?.DeletionProtection).toBe(false);
    const [pid] = simulator().clusterPids();
    const deleted = await rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: 'drill-pitr', SkipFinalSnapshot: true }));
    expect(deleted.DBInstance?.DBInstanceStatus).toBe('deleting');
    expect(() => process.kill(pid, 0)).toThrow();
    expect(simulator().clusterPids()).toEqual([]);
    expect((await describe1('drill-pitr')).DBInstanceStatus).toBe('deleting');
    expect((await rejection(describe1('drill-pitr'))).name).toBe('DBInstanceNotFoundFault');
  });

  test('DescribeDBSnapshots by instance, identifier and type; RestoreDBInstanceFromDBSnapshot with a managed master password', async () => {
    const byInstance = await rds.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: SOURCE }));
    expect(byInstance.DBSnapshots?.map((s) => s.DBSnapshotIdentifier).sort()).toEqual(['before-upgrade', SNAPSHOT]);
    const automated = await rds.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: SOURCE, SnapshotType: 'automated' }));
    expect(automated.DBSnapshots).toEqual([expect.objectContaining({ DBSnapshotIdentifier: SNAPSHOT, SnapshotType: 'automated', Status: 'available', SnapshotCreateTime: new Date('2026-11-25T03:00:00Z') })]);
    const byId = await rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: 'before-upgrade' }));
    expect(byId.DBSnapshots?.[0].SnapshotType).toBe('manual');
    expect((await rejection(rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: 'nope' })))).name).toBe('DBSnapshotNotFoundFault');

    const out = await rds.send(new RestoreDBInstanceFromDBSnapshotCommand({ DBInstanceIdentifier: 'drill-snap', DBSnapshotIdentifier: SNAPSHOT, DBInstanceClass: 'db.t4g.micro', ManageMasterUserPassword: true }));
    const arn = out.DBInstance?.MasterUserSecret?.SecretArn ?? '';
    expect(out.DBInstance?.MasterUserSecret?.SecretStatus).toBe('active');
    expect(arn).toMatch(/^arn:aws:secretsmanager:us-east-1:\d{12}:secret:rds!db-/);
    const { last } = await pollUntilSettled('drill-snap');
    const secret = simulator().masterSecret(arn);
    expect(secret.username).toBe('postgres');
    expect(secret.password).not.toBe(source?.password);
    expect(await query(last, secret.username, secret.password, 'postgres', 'SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 2 }]);
    await rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: 'drill-snap', SkipFinalSnapshot: true }));
    expect(simulator().clusterPids()).toEqual([]);
  });

  test('CreateDBInstance: an empty cluster with the requested master user, database and managed password', async () => {
    const out = await rds.send(new CreateDBInstanceCommand({
      DBInstanceIdentifier: 'restore-target', DBInstanceClass: 'db.t4g.micro', Engine: 'postgres', AllocatedStorage: 20,
      MasterUsername: 'app_admin', ManageMasterUserPassword: true, DBName: 'shop', StorageEncrypted: true, MultiAZ: false,
    }));
    expect(out.DBInstance).toMatchObject({ DBInstanceStatus: 'creating', MasterUsername: 'app_admin', DBName: 'shop', StorageEncrypted: true });
    const { seen, last } = await pollUntilSettled('restore-target');
    expect(seen).toEqual(['creating', 'backing-up', 'available']);
    const secret = simulator().masterSecret(last.MasterUserSecret?.SecretArn ?? '');
    expect(await query(last, 'app_admin', secret.password, 'shop', "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'")).toEqual([{ n: 0 }]);
    const again = await rejection(rds.send(new CreateDBInstanceCommand({ DBInstanceIdentifier: 'restore-target', DBInstanceClass: 'db.t4g.micro', Engine: 'postgres', AllocatedStorage: 20, MasterUsername: 'x', ManageMasterUserPassword: true })));
    expect(again.name).toBe('DBInstanceAlreadyExistsFault');
    await rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: 'restore-target', SkipFinalSnapshot: true }));
    expect(simulator().clusterPids()).toEqual([]);
  });

  test('failure injection: failNext fails the next call of an action; a fate ends the lifecycle in a failure state', async () => {
    simulator().failNext('RestoreDBInstanceToPointInTime', 'InsufficientDBInstanceCapacity');
    const injected = await rejection(rds.send(new RestoreDBInstanceToPointInTimeCommand({ TargetDBInstanceIdentifier: 'drill-fate', SourceDBInstanceIdentifier: SOURCE, UseLatestRestorableTime: true })));
    expect(injected).toEqual({ name: 'InsufficientDBInstanceCapacityFault', message: 'simulated InsufficientDBInstanceCapacity' });
    expect(simulator().instanceIds()).not.toContain('drill-fate');

    simulator().setFate('drill-fate', 'incompatible-restore');
    await rds.send(new RestoreDBInstanceToPointInTimeCommand({ TargetDBInstanceIdentifier: 'drill-fate', SourceDBInstanceIdentifier: SOURCE, UseLatestRestorableTime: true }));
    const { seen, last } = await pollUntilSettled('drill-fate');
    expect(seen).toEqual(['creating', 'incompatible-restore']);
    expect(last.Endpoint).toBeUndefined();
    expect(simulator().clusterPids()).toEqual([]);
    await rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: 'drill-fate', SkipFinalSnapshot: true }));
    simulator().advance('drill-fate');
    expect(simulator().status('drill-fate')).toBeUndefined();
  });

  test('fates failed (no cluster, no endpoint) and storage-full (after backing-up, with its cluster)', async () => {
    simulator().setFate('new-failed', 'failed');
    await rds.send(new CreateDBInstanceCommand({ DBInstanceIdentifier: 'new-failed', DBInstanceClass: 'db.t4g.micro', Engine: 'postgres', AllocatedStorage: 20, MasterUsername: 'admin1', ManageMasterUserPassword: true }));
    expect((await pollUntilSettled('new-failed')).seen).toEqual(['creating', 'failed']);
    simulator().setFate('drill-full', 'storage-full');
    await rds.send(new RestoreDBInstanceToPointInTimeCommand({ TargetDBInstanceIdentifier: 'drill-full', SourceDBInstanceIdentifier: SOURCE, UseLatestRestorableTime: true }));
    const full = await pollUntilSettled('drill-full');
    expect(full.seen).toEqual(['creating', 'backing-up', 'storage-full']);
    expect(full.last.Endpoint?.Port).toEqual(expect.any(Number));
    for (const id of ['new-failed', 'drill-full']) await rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: id, SkipFinalSnapshot: true }));
    expect(simulator().clusterPids()).toEqual([]);
  });

  test('sdkTask: a Step Functions RDS Task speaks the SDK for Java 2.x names; a misspelled Parameters key fails before any RDS call; a valid one runs through the SDK', async () => {
    expect(['DBInstanceIdentifier', 'DBInstances', 'SourceDBInstanceIdentifier', 'MultiAZ', 'DBName', 'Endpoint'].map(stepFunctionsMember)).toEqual([
      'DbInstanceIdentifier', 'DbInstances', 'SourceDBInstanceIdentifier', 'MultiAZ', 'DbName', 'Endpoint',
    ]);
    expect(['DBInstanceNotFoundFault', 'InvalidDBInstanceState', 'InvalidParameterValue'].map(stepFunctionsError)).toEqual([
      'Rds.DbInstanceNotFoundException', 'Rds.InvalidDbInstanceStateException', 'Rds.InvalidParameterValueException',
    ]);
    const before = simulator().calls.length;
    const typo = await rejection(simulator().sdkTask('arn:aws:states:::aws-sdk:rds:restoreDBInstanceToPointInTime', { TargetDBInstanceIdentifier: 'drill-x', SourceDbInstanceIdentifier: SOURCE, UseLatestRestorableTime: true }));
    expect(typo).toEqual({ name: 'Rds.InvalidParameterValueException', message: 'unknown parameter SourceDbInstanceIdentifier for RestoreDBInstanceToPointInTime' });
    const apiSpelling = await rejection(simulator().sdkTask('arn:aws:states:::aws-sdk:rds:describeDBInstances', { DBInstanceIdentifier: SOURCE }));
    expect(apiSpelling.message).toBe('unknown parameter DBInstanceIdentifier for DescribeDBInstances (Step Functions spells it DbInstanceIdentifier)');
    const missing = await rejection(simulator().sdkTask('arn:aws:states:::aws-sdk:rds:deleteDBInstance', { SkipFinalSnapshot: true }));
    expect(missing).toEqual({ name: 'Rds.MissingParameterException', message: 'DeleteDBInstance requires the parameter DbInstanceIdentifier' });
    const badTag = await rejection(simulator().sdkTask('arn:aws:states:::aws-sdk:rds:restoreDBInstanceToPointInTime', { TargetDBInstanceIdentifier: 'drill-x', SourceDBInstanceIdentifier: SOURCE, UseLatestRestorableTime: true, Tags: [{ Key: 'a', Val: 'b' }] }));
    expect(badTag.message).toBe('RestoreDBInstanceToPointInTime: each of Tags is {Key, Value}, not Val');
    expect((await rejection(simulator().sdkTask('arn:aws:states:::aws-sdk:rds:deleteDBCluster', {}))).message).toContain('not an RDS action the simulator serves');
    expect(simulator().calls.length).toBe(before);
    const out = await simulator().sdkTask('arn:aws:states:::aws-sdk:rds:describeDBInstances', { DbInstanceIdentifier: SOURCE });
    expect(out).toEqual({ DbInstances: [expect.objectContaining({ DbInstanceIdentifier: SOURCE, DbInstanceStatus: 'available', InstanceCreateTime: expect.stringMatching(/Z$/) })] });
    const notFound = await rejection(simulator().sdkTask('arn:aws:states:::aws-sdk:rds:describeDBInstances', { DbInstanceIdentifier: 'no-such-db' }));
    expect(notFound.name).toBe('Rds.DbInstanceNotFoundException');
  });

  test('the calls are recorded with passwords redacted; stop() stops every cluster it started and leaves the source running', async () => {
    const restored = await simulator().sdkTask('RestoreDBInstanceToPointInTime', { TargetDBInstanceIdentifier: 'left-behind', SourceDBInstanceIdentifier: SOURCE, RestoreTime: '2026-11-25T11:00:00Z' });
    expect(restored.DbInstance).toEqual(expect.objectContaining({ DbInstanceIdentifier: 'left-behind', DbInstanceStatus: 'creating' }));
    await rawPost(`Action=CreateDBInstance&Version=2014-10-31&DBInstanceIdentifier=pw-db&DBInstanceClass=db.t4g.micro&Engine=postgres&AllocatedStorage=20&MasterUsername=u1&MasterUserPassword=bad`);
    const calls = simulator().calls;
    expect(calls[calls.length - 1]).toEqual(expect.objectContaining({ action: 'CreateDBInstance', error: 'InvalidParameterValue', params: expect.objectContaining({ MasterUserPassword: '***' }) }));
    const pids = simulator().clusterPids();
    expect(pids).toHaveLength(1);
    await simulator().stop();
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    expect(await source?.sql('postgres', 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });
});
