/**
 * The monitor handler's wiring: PGDR_MONITOR parsed and checked with one EnvError per field (name,
 * rule, value received); the real `handler` has no side effect at import and refuses a missing
 * environment with EnvError before any AWS call; makeHandler resolves its factory once.
 */
import { EnvError } from '../../lambda/shared/env';
import { depsFromEnv, handler, makeHandler, parseMonitorSettings } from '../../lambda/monitor/handler';
import type { MonitorSettings } from '../../lambda/monitor/contract';
import { silentLog } from '../../lambda/shared/ports';

const GOOD: MonitorSettings = {
  classes: [{ name: 'daily', intervalSeconds: 86_400 }],
  rdsInstanceIdentifier: 'prod-db',
  pointInTimeRecovery: true,
  defaultInstanceCreateSeconds: 900,
  rtoSeconds: 3600,
  rpoSeconds: 86_400,
};

describe('parseMonitorSettings', () => {
  it('accepts the contract shape (rdsInstanceIdentifier optional)', () => {
    expect(parseMonitorSettings(JSON.stringify(GOOD))).toEqual(GOOD);
    const { rdsInstanceIdentifier: _omit, ...external } = GOOD;
    void _omit;
    expect(parseMonitorSettings(JSON.stringify({ ...external, pointInTimeRecovery: false }))).toEqual({ ...external, pointInTimeRecovery: false });
  });

  it.each([
    ['unset', undefined, /environment variable PGDR_MONITOR is not set/],
    ['not JSON', '{classes:', /PGDR_MONITOR is not valid JSON/],
    ['an array', '[]', /PGDR_MONITOR must be a JSON object \(received \[\]\)/],
    ['classes missing', JSON.stringify({ ...GOOD, classes: undefined }), /PGDR_MONITOR.classes must be an array/],
    ['bad class name', JSON.stringify({ ...GOOD, classes: [{ name: 'Daily!', intervalSeconds: 60 }] }), /PGDR_MONITOR.classes\[0\].name must be a valid backup class name .* \(received "Daily!"\)/],
    ['duplicate class', JSON.stringify({ ...GOOD, classes: [GOOD.classes[0], GOOD.classes[0]] }), /PGDR_MONITOR.classes\[1\].name must be unique \(received "daily"\)/],
    ['zero interval', JSON.stringify({ ...GOOD, classes: [{ name: 'daily', intervalSeconds: 0 }] }), /classes\[0\].intervalSeconds must be a number of seconds > 0 \(received 0\)/],
    ['empty instance', JSON.stringify({ ...GOOD, rdsInstanceIdentifier: '' }), /rdsInstanceIdentifier must be an RDS instance identifier/],
    ['pitr not boolean', JSON.stringify({ ...GOOD, pointInTimeRecovery: 'yes' }), /pointInTimeRecovery must be true or false \(received "yes"\)/],
    ['rto string', JSON.stringify({ ...GOOD, rtoSeconds: '3600' }), /PGDR_MONITOR.rtoSeconds must be a number of seconds > 0 \(received "3600"\)/],
    ['default create negative', JSON.stringify({ ...GOOD, defaultInstanceCreateSeconds: -5 }), /defaultInstanceCreateSeconds must be a number of seconds > 0 \(received -5\)/],
  ])('%s → EnvError naming it', (_case, text, message) => {
    let caught: unknown;
    try {
      parseMonitorSettings(text);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(EnvError);
    expect((caught as Error).name).toBe('EnvError');
    expect((caught as Error).message).toMatch(message);
  });
});

describe('wiring', () => {
  it('depsFromEnv: every missing variable is an EnvError naming it', () => {
    const env = { PGDR_MONITOR: JSON.stringify(GOOD), PGDR_DATABASE: 'shop', PGDR_BUCKET: 'vault', PGDR_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:x' };
    expect(depsFromEnv(env)).toMatchObject({ database: 'shop', settings: GOOD });
    for (const name of Object.keys(env)) {
      const without = { ...env, [name]: undefined };
      expect(() => depsFromEnv(without)).toThrow(new RegExp(name));
      expect(() => depsFromEnv(without)).toThrow(EnvError);
    }
    expect(() => depsFromEnv({ ...env, PGDR_DATABASE: 'Shop DB' })).toThrow(/PGDR_DATABASE: database "Shop DB" is not valid/);
    expect(() => depsFromEnv({ ...env, PGDR_PG_SSLMODE: 'sometimes' })).toThrow(/PGDR_PG_SSLMODE must be one of/);
  });

  it('the real handler, with no environment, refuses with EnvError (and importing it did nothing)', async () => {
    const saved = process.env.PGDR_MONITOR;
    delete process.env.PGDR_MONITOR;
    try {
      await expect(handler({})).rejects.toMatchObject({ name: 'EnvError', message: expect.stringContaining('PGDR_MONITOR') });
    } finally {
      if (saved !== undefined) process.env.PGDR_MONITOR = saved;
    }
  });

  it('makeHandler calls its factory once, on the first event', async () => {
    const factory = jest.fn(() => ({
      database: 'shop',
      settings: { ...GOOD, rdsInstanceIdentifier: undefined, pointInTimeRecovery: false, classes: [] },
      store: { bucket: 'b', getText: async () => undefined, putText: async () => undefined, getStream: async () => undefined, uploadStream: async () => undefined, listKeys: async () => [] },
      probe: { probe: async () => ({ connectionsUsed: 5, maxConnections: 100 }) },
      metrics: () => ({ add: () => undefined, flush: () => undefined }),
      clock: { now: () => new Date('2026-11-25T00:00:00Z') },
      log: silentLog,
    }));
    const h = makeHandler(factory);
    expect(factory).not.toHaveBeenCalled();
    const first = await h({});
    await h({});
    expect(factory).toHaveBeenCalledTimes(1);
    expect(first.values.find((v) => v.metric === 'ConnectionsUsedPercent')?.value).toBe(5);
  });
});
