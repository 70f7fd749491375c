/**
 * The cutover Lambda's core and handler against in-memory stand-ins of Secrets Manager, SSM and
 * Route 53 that follow the APIs' semantics (test/support/aws-targets.ts), and its health check
 * against a real HTTPS server on 127.0.0.1 with a test CA. The clock is injected and advances
 * only in `sleep`: nothing waits.
 */
import { readFileSync } from 'node:fs';
import { createServer, Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { CutoverResult, RecoveryPlan } from '../../lambda/failover/contract';
import {
  CutoverDeps,
  HttpProbe,
  secretRequestToken,
  switchedParameterValue,
  switchedSecretValue,
} from '../../lambda/failover/cutover/core';
import { httpsProbe } from '../../lambda/failover/cutover/aws';
import { makeHandler } from '../../lambda/failover/cutover/handler';
import { MemoryParameters, MemoryRoute53, MemorySecrets } from '../../local/aws-targets';
import { TestPki } from '../support/test-pki';
import { FIXTURE_INSTANCE, FIXTURE_START, recoveryPlan } from '../support/failover-fixtures';

const SECRET = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders-app-AbCdEf';
const PASSWORD = 'pa55-w0rd-secret';
const ORIGINAL_SECRET = JSON.stringify({ engine: 'postgres', host: 'old.cluster.eu-west-1.rds.amazonaws.com', port: 5432, username: 'app', password: PASSWORD, dbname: 'orders', dbInstanceIdentifier: 'orders-prod' });
const PARAM = '/orders/db-url';
const ORIGINAL_URL = 'postgres://app@old.cluster.eu-west-1.rds.amazonaws.com:5432/orders?sslmode=verify-full&application_name=api';
const ZONE = 'Z0123456789ABC';
const RECORD = 'db.orders.example.com.';
const START = FIXTURE_START;
const INSTANCE = FIXTURE_INSTANCE;
const plan = recoveryPlan;

const ALL = { secretArn: SECRET, ssmParameterName: PARAM, route53: { hostedZoneId: ZONE, recordName: 'DB.orders.example.com', ttlSeconds: 30 } };

/** A clock that only moves when the code sleeps. */
class StepClock {
  t = Date.parse('2026-11-25T10:20:00.000Z');
  slept: number[] = [];
  now = () => new Date(this.t);
  sleep = async (ms: number) => {
    this.slept.push(ms);
    this.t += ms;
  };
}

interface World {
  secrets: MemorySecrets;
  parameters: MemoryParameters;
  dns: MemoryRoute53;
  clock: StepClock;
  deps: CutoverDeps;
  initialSecretVersion: string;
}

function world(probe: HttpProbe = { get: async () => 200 }): World {
  const secrets = new MemorySecrets();
  const parameters = new MemoryParameters();
  const dns = new MemoryRoute53();
  const clock = new StepClock();
  const initialSecretVersion = secrets.create(SECRET, ORIGINAL_SECRET);
  parameters.create(PARAM, ORIGINAL_URL);
  dns.createZone(ZONE, 'orders.example.com');
  dns.addRecord(ZONE, { name: RECORD, type: 'CNAME', ttl: 300, values: ['old.cluster.eu-west-1.rds.amazonaws.com.'] });
  dns.addRecord(ZONE, { name: 'www.orders.example.com.', type: 'A', values: ['192.0.2.10'] });
  return { secrets, parameters, dns, clock, initialSecretVersion, deps: { secrets, parameters, dns, probe, clock, sleep: clock.sleep } };
}

const errorOf = async (p: Promise<unknown>): Promise<Error> => {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
};

describe('check', () => {
  test('no target configured: ok, nothing to do', async () => {
    const w = world();
    await expect(makeHandler(w.deps)({ action: 'check', plan: plan() })).resolves.toEqual({ ok: true, targets: [] });
  });

  test('every configured target usable: ok, each named', async () => {
    const w = world();
    const result = await makeHandler(w.deps)({ action: 'check', plan: plan({ ...ALL, healthCheck: { url: 'https://api.orders.example.com/health', timeoutSeconds: 60 } }) });
    expect(result).toEqual({
      ok: true,
      targets: [`secret ${SECRET}`, `SSM parameter ${PARAM}`, `Route 53 record ${RECORD} in hosted zone ${ZONE}`, 'health check https://api.orders.example.com/health'],
    });
    expect(w.secrets.changes + w.parameters.changes + w.dns.changes).toBe(0);
  });

  test('a record name that does not exist yet is fine (the cutover creates the CNAME)', async () => {
    const w = world();
    await expect(makeHandler(w.deps)({ action: 'check', plan: plan({ route53: { hostedZoneId: ZONE, recordName: 'new.orders.example.com', ttlSeconds: 30 } }) })).resolves.toMatchObject({ ok: true });
  });

  const bad: Array<[string, (w: World) => Partial<RecoveryPlan['cutover']>, RegExp]> = [
    ['missing secret', () => ({ secretArn: `${SECRET}-gone` }), /secret arn:.*-gone: does not exist/],
    ['secret not JSON', (w) => (w.secrets.create(SECRET, `host=old password=${PASSWORD}`), { secretArn: SECRET }), /secret arn:\S+: its value is not a JSON object/],
    ['secret without host', (w) => (w.secrets.create(SECRET, JSON.stringify({ port: 5432, password: PASSWORD })), { secretArn: SECRET }), /no "host" string/],
    ['secret without port', (w) => (w.secrets.create(SECRET, JSON.stringify({ host: 'h', password: PASSWORD })), { secretArn: SECRET }), /no numeric "port"/],
    ['secret unreadable', (w) => (w.secrets.failNext('current', Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' })), { secretArn: SECRET }), /cannot be read \(AccessDeniedException: User is not authorized\)/],
    ['missing SSM parameter', () => ({ ssmParameterName: '/orders/nope' }), /SSM parameter \/orders\/nope: does not exist/],
    ['SSM value of an unknown form', (w) => (w.parameters.create(PARAM, `mysql://app:${PASSWORD}@h/db`), { ssmParameterName: PARAM }), /SSM parameter \/orders\/db-url: its value is neither/],
    ['SSM StringList', (w) => (w.parameters.create(PARAM, 'a,b', 'StringList'), { ssmParameterName: PARAM }), /is a StringList/],
    ['missing hosted zone', () => ({ route53: { hostedZoneId: 'ZNOPE', recordName: RECORD, ttlSeconds: 30 } }), /hosted zone ZNOPE: the hosted zone does not exist/],
    ['name outside the zone', () => ({ route53: { hostedZoneId: ZONE, recordName: 'db.example.org', ttlSeconds: 30 } }), /db\.example\.org\. .*not inside the zone orders\.example\.com\./],
    ['zone apex', () => ({ route53: { hostedZoneId: ZONE, recordName: 'orders.example.com.', ttlSeconds: 30 } }), /zone apex/],
    ['an A record', () => ({ route53: { hostedZoneId: ZONE, recordName: 'www.orders.example.com', ttlSeconds: 30 } }), /is an A record, which cannot be replaced by a CNAME/],
    ['an alias A record', (w) => (w.dns.addRecord(ZONE, { name: 'lb.orders.example.com.', type: 'A', alias: true, ttl: null }), { route53: { hostedZoneId: ZONE, recordName: 'lb.orders.example.com', ttlSeconds: 30 } }), /is an alias A record, which cannot be replaced by a CNAME/],
    ['a weighted CNAME', (w) => (w.dns.addRecord(ZONE, { name: 'w.orders.example.com.', type: 'CNAME', values: ['x.'], setIdentifier: 'blue' }), { route53: { hostedZoneId: ZONE, recordName: 'w.orders.example.com', ttlSeconds: 30 } }), /routing policy \(SetIdentifier blue\)/],
    ['a health check that is not https', () => ({ healthCheck: { url: 'http://api.orders.example.com/health', timeoutSeconds: 30 } }), /not an https:\/\/ URL/],
  ];
  test.each(bad)('rejects %s with CutoverTargetInvalid naming the target', async (_name, setup, message) => {
    const w = world();
    const cutover = setup(w);
    const err = await errorOf(makeHandler(w.deps)({ action: 'check', plan: plan(cutover) }));
    expect(err.name).toBe('CutoverTargetInvalid');
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain(PASSWORD);
    expect(w.secrets.changes + w.parameters.changes + w.dns.changes).toBe(0);
  });

  test('reports every bad target at once', async () => {
    const w = world();
    const err = await errorOf(makeHandler(w.deps)({ action: 'check', plan: plan({ secretArn: 'arn:gone', ssmParameterName: '/gone', route53: { hostedZoneId: 'ZGONE', recordName: RECORD, ttlSeconds: 30 } }) }));
    expect(err.message).toMatch(/secret arn:gone: does not exist; SSM parameter \/gone: does not exist; Route 53 record .* the hosted zone does not exist/);
  });
});

describe('apply', () => {
  test('switches the secret, the SSM URL and the CNAME; keeps everything else; returns what rollback needs', async () => {
    const w = world();
    const result = (await makeHandler(w.deps)({ action: 'apply', plan: plan(ALL), instance: INSTANCE })) as CutoverResult;

    const secret = JSON.parse(w.secrets.valueOf(SECRET)!);
    expect(secret).toEqual({ ...JSON.parse(ORIGINAL_SECRET), host: INSTANCE.host, port: 5433, dbInstanceIdentifier: INSTANCE.identifier });
    const token = secretRequestToken('exec-1', SECRET);
    expect(w.secrets.versionWith(SECRET, 'AWSCURRENT')).toBe(token);
    expect(w.secrets.versionWith(SECRET, 'AWSPREVIOUS')).toBe(w.initialSecretVersion);
    expect(w.secrets.valueOf(SECRET, 'AWSPREVIOUS')).toBe(ORIGINAL_SECRET);

    expect(w.parameters.valueOf(PARAM)).toBe(`postgres://app@${INSTANCE.host}:5433/orders?sslmode=verify-full&application_name=api`);
    expect(w.dns.records(ZONE, RECORD)).toEqual([{ name: RECORD, type: 'CNAME', ttl: 30, values: [`${INSTANCE.host}.`], alias: false, setIdentifier: null }]);

    expect(result).toEqual({
      at: '2026-11-25T10:20:00.000Z',
      secondsSinceStart: 1200,
      secret: { arn: SECRET, versionId: token, previousVersionId: w.initialSecretVersion },
      ssm: { name: PARAM, version: 2, previousValue: ORIGINAL_URL },
      route53: { hostedZoneId: ZONE, recordName: RECORD, previous: { type: 'CNAME', ttl: 300, values: ['old.cluster.eu-west-1.rds.amazonaws.com.'] } },
    });
    expect(JSON.stringify(result)).not.toContain(PASSWORD);
  });

  test('twice (a Lambda retry) is one change per target, and the second result still knows the previous state', async () => {
    const w = world();
    const handler = makeHandler(w.deps);
    const first = (await handler({ action: 'apply', plan: plan(ALL), instance: INSTANCE })) as CutoverResult;
    const changes = [w.secrets.changes, w.parameters.changes, w.dns.changes];
    expect(changes).toEqual([1, 1, 1]);
    const second = (await handler({ action: 'apply', plan: plan(ALL), instance: INSTANCE })) as CutoverResult;
    expect([w.secrets.changes, w.parameters.changes, w.dns.changes]).toEqual(changes);
    expect(second.secret).toEqual(first.secret);
    expect(second.ssm).toEqual(first.ssm);
    expect(second.route53).toEqual({ ...first.route53, previous: { type: 'CNAME', ttl: 30, values: [`${INSTANCE.host}.`] } });
    expect(w.secrets.secrets.get(SECRET)!.size).toBe(2);
  });

  test('a secret version created by an earlier attempt with the same token is not duplicated (ClientRequestToken)', async () => {
    const w = world();
    // The first attempt's PutSecretValue went through but the secret was read before it (a race).
    const token = secretRequestToken('exec-1', SECRET);
    await makeHandler(w.deps)({ action: 'apply', plan: plan({ secretArn: SECRET }), instance: INSTANCE });
    await expect(w.secrets.put(SECRET, w.secrets.valueOf(SECRET)!, token)).resolves.toBe(token);
    expect(w.secrets.secrets.get(SECRET)!.size).toBe(2);
    expect(w.secrets.changes).toBe(1);
  });

  test('a record name with no record gets a new CNAME; rollback deletes it', async () => {
    const w = world();
    const p = plan({ route53: { hostedZoneId: ZONE, recordName: 'new.orders.example.com', ttlSeconds: 60 } });
    const applied = (await makeHandler(w.deps)({ action: 'apply', plan: p, instance: INSTANCE })) as CutoverResult;
    expect(applied.route53).toEqual({ hostedZoneId: ZONE, recordName: 'new.orders.example.com.', previous: null });
    expect(w.dns.records(ZONE, 'new.orders.example.com.')).toHaveLength(1);
    await makeHandler(w.deps)({ action: 'rollback', plan: p, applied });
    expect(w.dns.records(ZONE, 'new.orders.example.com.')).toEqual([]);
  });

  test('a port held as a string stays a string; a secret without dbInstanceIdentifier does not get one', () => {
    expect(JSON.parse(switchedSecretValue(JSON.stringify({ host: 'h', port: '5432', username: 'app', password: PASSWORD }), { identifier: 'i', host: 'n', port: 5433 }))).toEqual({ host: 'n', port: '5433', username: 'app', password: PASSWORD });
  });

  test('SSM forms: URL (user, password, database and query kept), host:port, bare host', () => {
    expect(switchedParameterValue('postgresql://app:s3cr%40t@old:5432/orders?sslmode=require#x', 'new.host', 6543)).toBe('postgresql://app:s3cr%40t@new.host:6543/orders?sslmode=require#x');
    expect(switchedParameterValue('postgres://old-a:5432,old-b:5432/orders?target_session_attrs=read-write', 'n', 5432)).toBe('postgres://n:5432/orders?target_session_attrs=read-write');
    expect(switchedParameterValue('postgres://old', 'n', 5432)).toBe('postgres://n:5432');
    expect(switchedParameterValue('old.example.com:5432', 'n.example.com', 5433)).toBe('n.example.com:5433');
    expect(switchedParameterValue('old.example.com', 'n.example.com', 5433)).toBe('n.example.com');
  });

  test('a SecureString or a value with a password is not carried in the result; rollback restores it by version', async () => {
    const w = world();
    const url = `postgres://app:${PASSWORD}@old:5432/orders`;
    w.parameters.create(PARAM, url, 'SecureString');
    const p = plan({ ssmParameterName: PARAM });
    const applied = (await makeHandler(w.deps)({ action: 'apply', plan: p, instance: INSTANCE })) as CutoverResult;
    expect(w.parameters.valueOf(PARAM)).toBe(`postgres://app:${PASSWORD}@${INSTANCE.host}:5433/orders`);
    expect(applied.ssm).toEqual({ name: PARAM, version: 2, previousValue: null });
    expect(JSON.stringify(applied)).not.toContain(PASSWORD);
    await makeHandler(w.deps)({ action: 'rollback', plan: p, applied });
    expect(w.parameters.valueOf(PARAM)).toBe(url);
  });

  test('SSM fails after the secret changed: the secret is moved back, DNS untouched, CutoverFailed', async () => {
    const w = world();
    w.parameters.failNext('put', Object.assign(new Error(`throttled for postgres://u:${PASSWORD}@h`), { name: 'ThrottlingException' }));
    const err = await errorOf(makeHandler(w.deps)({ action: 'apply', plan: plan(ALL), instance: INSTANCE }));
    expect(err.name).toBe('CutoverFailed');
    expect(err.message).toMatch(/cutover of SSM parameter \/orders\/db-url .* failed: ThrottlingException: throttled for postgres:\/\/u:\*\*\*@h\. Rolled back: secret .*AWSCURRENT moved back/);
    expect(err.message).not.toContain(PASSWORD);
    expect(w.secrets.valueOf(SECRET)).toBe(ORIGINAL_SECRET);
    expect(w.secrets.versionWith(SECRET, 'AWSCURRENT')).toBe(w.initialSecretVersion);
    expect(w.parameters.valueOf(PARAM)).toBe(ORIGINAL_URL);
    expect(w.dns.changes).toBe(0);
  });

  test('Route 53 fails last: the SSM parameter and the secret are restored', async () => {
    const w = world();
    w.dns.failNext('change');
    const err = await errorOf(makeHandler(w.deps)({ action: 'apply', plan: plan(ALL), instance: INSTANCE }));
    expect(err.name).toBe('CutoverFailed');
    expect(err.message).toMatch(/Rolled back: SSM parameter \/orders\/db-url: previous value restored; secret .*/);
    expect(w.parameters.valueOf(PARAM)).toBe(ORIGINAL_URL);
    expect(w.secrets.valueOf(SECRET)).toBe(ORIGINAL_SECRET);
    expect(w.dns.records(ZONE, RECORD)[0].values).toEqual(['old.cluster.eu-west-1.rds.amazonaws.com.']);
  });

  test('a failing rollback during apply is reported, not hidden', async () => {
    const w = world();
    w.dns.failNext('change');
    w.secrets.failNext('moveCurrent', Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    const err = await errorOf(makeHandler(w.deps)({ action: 'apply', plan: plan({ secretArn: SECRET, route53: ALL.route53 }), instance: INSTANCE }));
    expect(err.name).toBe('CutoverFailed');
    expect(err.message).toMatch(/ROLLBACK FAILED, fix by hand: secret .*: AccessDeniedException: denied/);
  });

  test('a drill never cuts over', async () => {
    const w = world();
    const err = await errorOf(makeHandler(w.deps)({ action: 'apply', plan: plan(ALL, { mode: 'drill' }), instance: INSTANCE }));
    expect(err.name).toBe('CutoverFailed');
    expect(w.secrets.changes + w.parameters.changes + w.dns.changes).toBe(0);
  });

  test('an instance without endpoint is rejected as InvalidInput before any change', async () => {
    const w = world();
    const err = await errorOf(makeHandler(w.deps)({ action: 'apply', plan: plan(ALL), instance: { ...INSTANCE, host: null } }));
    expect(err.name).toBe('InvalidInput');
    expect(w.secrets.changes + w.parameters.changes + w.dns.changes).toBe(0);
  });
});

describe('rollback', () => {
  test('restores exactly the state before apply', async () => {
    const w = world();
    const handler = makeHandler(w.deps);
    const before = { secret: w.secrets.valueOf(SECRET), ssm: w.parameters.valueOf(PARAM), dns: w.dns.records(ZONE, RECORD) };
    const applied = (await handler({ action: 'apply', plan: plan(ALL), instance: INSTANCE })) as CutoverResult;
    const result = await handler({ action: 'rollback', plan: plan(ALL), applied });
    expect(result).toEqual({ at: expect.any(String), undone: [expect.stringMatching(/^Route 53 record/), expect.stringMatching(/^SSM parameter/), expect.stringMatching(/^secret/)] });
    expect(w.secrets.valueOf(SECRET)).toBe(before.secret);
    expect(w.secrets.versionWith(SECRET, 'AWSCURRENT')).toBe(w.initialSecretVersion);
    expect(w.parameters.valueOf(PARAM)).toBe(before.ssm);
    expect(w.dns.records(ZONE, RECORD)).toEqual(before.dns);
    // Twice: nothing left to move for the secret; SSM and DNS rewrite the same values.
    await handler({ action: 'rollback', plan: plan(ALL), applied });
    expect(w.secrets.versionWith(SECRET, 'AWSCURRENT')).toBe(w.initialSecretVersion);
  });

  test('a second rollback finds everything already restored and changes nothing', async () => {
    const w = world();
    const handler = makeHandler(w.deps);
    const applied = (await handler({ action: 'apply', plan: plan(ALL), instance: INSTANCE })) as CutoverResult;
    await handler({ action: 'rollback', plan: plan(ALL), applied });
    const changes = [w.secrets.changes, w.parameters.changes, w.dns.changes];
    const again = await handler({ action: 'rollback', plan: plan(ALL), applied });
    expect([w.secrets.changes, w.parameters.changes, w.dns.changes]).toEqual(changes);
    expect(again).toMatchObject({ undone: [expect.stringMatching(/already CNAME/), expect.stringMatching(/already the previous value/), expect.stringMatching(/already on the previous version/)] });
  });

  test('a change someone made after the cutover is not overwritten: RollbackFailed says which', async () => {
    const w = world();
    const handler = makeHandler(w.deps);
    const applied = (await handler({ action: 'apply', plan: plan(ALL), instance: INSTANCE })) as CutoverResult;
    // After the cutover: a rotation of the secret, a new SSM value, the record pointed elsewhere.
    await w.secrets.put(SECRET, JSON.stringify({ host: INSTANCE.host, port: 5433, password: 'rotated-pass' }), 'rotation-0123456789abcdef0123456789ab');
    await w.parameters.put(PARAM, 'elsewhere:5432');
    await w.dns.change(ZONE, 'UPSERT', { name: RECORD, type: 'CNAME', ttl: 60, values: ['elsewhere.example.com.'] });
    const changes = [w.secrets.changes, w.parameters.changes, w.dns.changes];
    const err = await errorOf(handler({ action: 'rollback', plan: plan(ALL), applied }));
    expect(err.name).toBe('RollbackFailed');
    expect(err.message).toMatch(/Route 53 record db\.orders\.example\.com\.: Error: changed after the cutover \(now CNAME elsewhere\.example\.com\.\): not overwritten/);
    expect(err.message).toMatch(/SSM parameter \/orders\/db-url: Error: changed after the cutover \(now version 3, the cutover wrote 2\)/);
    expect(err.message).toMatch(/secret .*: Error: AWSCURRENT moved to version rotation-0123456789abcdef0123456789ab after the cutover/);
    expect(err.message).not.toContain('rotated-pass');
    expect([w.secrets.changes, w.parameters.changes, w.dns.changes]).toEqual(changes);
  });

  test('after a retried apply the record before it is unknown: rollback says so instead of guessing', async () => {
    const w = world();
    const handler = makeHandler(w.deps);
    await handler({ action: 'apply', plan: plan({ route53: ALL.route53 }), instance: INSTANCE });
    const retried = (await handler({ action: 'apply', plan: plan({ route53: ALL.route53 }), instance: INSTANCE })) as CutoverResult;
    const err = await errorOf(handler({ action: 'rollback', plan: plan(ALL), applied: retried }));
    expect(err.name).toBe('RollbackFailed');
    expect(err.message).toMatch(/the record before the cutover is unknown .* restore it by hand/);
    expect(w.dns.records(ZONE, RECORD)[0].values).toEqual([`${INSTANCE.host}.`]);
  });

  test('touches only the targets listed as applied', async () => {
    const w = world();
    const applied: CutoverResult = { at: START, secondsSinceStart: 1, secret: null, ssm: { name: PARAM, version: 2, previousValue: 'old.example.com:5432' }, route53: null };
    w.parameters.create(PARAM, 'new.example.com:5433');
    await w.parameters.put(PARAM, 'new.example.com:5433');
    await makeHandler(w.deps)({ action: 'rollback', plan: plan(ALL), applied });
    expect(w.parameters.valueOf(PARAM)).toBe('old.example.com:5432');
    expect(w.secrets.changes).toBe(0);
    expect(w.dns.changes).toBe(0);
  });

  test('nothing applied: nothing touched', async () => {
    const w = world();
    const result = await makeHandler(w.deps)({ action: 'rollback', plan: plan(ALL), applied: { at: START, secondsSinceStart: 0, secret: null, ssm: null, route53: null } });
    expect(result).toMatchObject({ undone: [] });
    expect(w.secrets.changes + w.parameters.changes + w.dns.changes).toBe(0);
  });

  test('an incomplete rollback throws RollbackFailed naming what is left', async () => {
    const w = world();
    const applied = (await makeHandler(w.deps)({ action: 'apply', plan: plan(ALL), instance: INSTANCE })) as CutoverResult;
    w.parameters.failNext('put');
    const err = await errorOf(makeHandler(w.deps)({ action: 'rollback', plan: plan(ALL), applied }));
    expect(err.name).toBe('RollbackFailed');
    expect(err.message).toMatch(/SSM parameter \/orders\/db-url: InternalServiceError/);
    // The others were still undone.
    expect(w.secrets.valueOf(SECRET)).toBe(ORIGINAL_SECRET);
    expect(w.dns.records(ZONE, RECORD)[0].values).toEqual(['old.cluster.eu-west-1.rds.amazonaws.com.']);
  });
});

describe('health (real HTTPS server on 127.0.0.1)', () => {
  const pki = new TestPki();
  let server: Server;
  let url: string;
  let ca: string;
  const statuses: number[] = [];
  let served = 0;

  beforeAll(async () => {
    ca = readFileSync(pki.ca('ca'), 'utf8');
    const cert = pki.server('health', 'ca', 'IP:127.0.0.1');
    server = createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
      served += 1;
      const status = statuses.length > 1 ? statuses.shift()! : (statuses[0] ?? 200);
      res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' });
      res.end(req.url === '/health' ? 'ok' : 'no');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    pki.remove();
  });
  beforeEach(() => {
    statuses.length = 0;
    served = 0;
  });

  test('503 twice then 200: ok after three probes, two intervals slept', async () => {
    statuses.push(503, 503, 200);
    const w = world(httpsProbe({ ca }));
    const result = await makeHandler(w.deps)({ action: 'health', plan: plan({ healthCheck: { url, timeoutSeconds: 60 } }) });
    expect(result).toEqual({ ok: true, url, status: 200, attempts: 3, seconds: 10, at: '2026-11-25T10:20:10.000Z' });
    expect(served).toBe(3);
    expect(w.clock.slept).toEqual([5000, 5000]);
  });

  test('always 500: HealthCheckFailed after the timeout with the last status', async () => {
    statuses.push(500);
    const w = world(httpsProbe({ ca }));
    const err = await errorOf(makeHandler(w.deps)({ action: 'health', plan: plan({ healthCheck: { url, timeoutSeconds: 30 } }) }));
    expect(err.name).toBe('HealthCheckFailed');
    expect(err.message).toBe(`health check ${url} got no 2xx within 30 s (7 attempts; last: HTTP 500)`);
    expect(served).toBe(7);
    expect(w.clock.t - Date.parse('2026-11-25T10:20:00.000Z')).toBe(30000);
  });

  test('a server whose certificate is not trusted fails with the TLS error', async () => {
    statuses.push(200);
    const w = world(httpsProbe()); // public roots only: the test CA is unknown
    const err = await errorOf(makeHandler(w.deps)({ action: 'health', plan: plan({ healthCheck: { url, timeoutSeconds: 5 } }) }));
    expect(err.name).toBe('HealthCheckFailed');
    expect(err.message).toMatch(/last: Error: (self[- ]signed|unable to verify|.*certificate)/i);
  });

  test('connection refused is retried and reported', async () => {
    const w = world(httpsProbe({ ca }));
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const err = await errorOf(makeHandler(w.deps)({ action: 'health', plan: plan({ healthCheck: { url: `https://127.0.0.1:${port}/health`, timeoutSeconds: 10 } }) }));
    expect(err.message).toMatch(/3 attempts; last: Error: connect ECONNREFUSED/);
  });

  test('a probe that hangs is cut at its own timeout', async () => {
    const w = world({ get: (_u, timeoutMs) => Promise.reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { name: 'ProbeTimeout' })) });
    const err = await errorOf(makeHandler({ ...w.deps, probeTimeoutMs: 2000 })({ action: 'health', plan: plan({ healthCheck: { url, timeoutSeconds: 5 } }) }));
    expect(err.message).toMatch(/last: ProbeTimeout: no answer within 2000 ms/);
  });

  test('the real probe times out on a server that never answers', async () => {
    const silent = createServer({ ...pki.server('silent', 'ca', 'IP:127.0.0.1') }, () => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as AddressInfo).port;
      await expect(httpsProbe({ ca }).get(`https://127.0.0.1:${port}/`, 300)).rejects.toMatchObject({ name: 'ProbeTimeout' });
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test('no health check configured: ok without probing', async () => {
    const w = world({ get: async () => { throw new Error('must not probe'); } });
    await expect(makeHandler(w.deps)({ action: 'health', plan: plan() })).resolves.toMatchObject({ ok: true, url: null, attempts: 0 });
  });
});

test('an unknown action is InvalidInput', async () => {
  const w = world();
  const err = await errorOf(makeHandler(w.deps)({ action: 'switch', plan: plan() } as never));
  expect(err.name).toBe('InvalidInput');
  expect(err.message).toMatch(/unknown action "switch"/);
});
