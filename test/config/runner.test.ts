/**
 * The runner of a database's jobs (issue 11): `lambda` by default, `fargate` with Fargate's CPU and
 * memory sizes, ephemeral storage, dump format and jobs; and `verification.mode`, whose default
 * depends on the runner. Errors name the field, the rule and the value.
 */
import { ConfigError, fargateDumpJobs, parseConfig, verificationModeOf } from '../../lib/config';

const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgdr/shop-AbCdEf';
const VERIFY_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgdr/scratch-AbCdEf';

function config(db: Record<string, unknown> = {}): any {
  return {
    databases: [
      {
        name: 'shop',
        source: { type: 'external', secretArn: SECRET, engineMajorVersion: 16 },
        rpo: '24h',
        rto: '4h',
        backupClasses: [{ name: 'daily', schedule: { expression: 'cron(0 3 * * ? *)' }, retention: { expireAfterDays: 30 } }],
        ...db,
      },
    ],
  };
}

const parse = (db: Record<string, unknown>) => parseConfig(config(db), 'test.json').databases[0];

function problem(db: Record<string, unknown>): string {
  try {
    parseConfig(config(db), 'test.json');
  } catch (err) {
    if (err instanceof ConfigError) {
      expect(err.issues).toHaveLength(1);
      return err.message;
    }
    throw err;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('defaults', () => {
  it('a database without a runner runs on Lambda and restore-tests as before: on the source, or on the configured server', () => {
    const db = parse({});
    expect(db.runner).toEqual({ type: 'lambda' });
    expect(verificationModeOf(db)).toBe('source');
    expect(verificationModeOf(parse({ verification: { serverSecretArn: VERIFY_SECRET } }))).toBe('server');
  });

  it('a Fargate database gets 2 vCPU / 4 GiB / 100 GiB, directory dumps with one job per vCPU, and an ephemeral restore server', () => {
    const db = parse({ runner: { type: 'fargate' } });
    expect(db.runner).toEqual({ type: 'fargate', cpu: 2048, memoryMiB: 4096, ephemeralStorageGiB: 100, dumpFormat: 'directory' });
    expect(fargateDumpJobs(db.runner as any)).toBe(2);
    expect(verificationModeOf(db)).toBe('ephemeral');
  });

  it('dumpJobs follows the task size unless set; a quarter vCPU still dumps with one job', () => {
    expect(fargateDumpJobs(parse({ runner: { type: 'fargate', cpu: 8192, memoryMiB: 16384 } }).runner as any)).toBe(8);
    expect(fargateDumpJobs(parse({ runner: { type: 'fargate', cpu: 256, memoryMiB: 512 } }).runner as any)).toBe(1);
    expect(fargateDumpJobs(parse({ runner: { type: 'fargate', dumpJobs: 3 } }).runner as any)).toBe(3);
  });

  it('an explicit mode wins over the runner default, ephemeral included on Lambda', () => {
    expect(verificationModeOf(parse({ runner: { type: 'fargate' }, verification: { mode: 'source' } }))).toBe('source');
    expect(verificationModeOf(parse({ verification: { mode: 'ephemeral' } }))).toBe('ephemeral');
  });
});

describe('errors name the field, the rule and the value', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['an unknown runner', { runner: { type: 'batch' } }, /databases\[0\]\.runner\.type: .*'lambda' \| 'fargate' \(received "batch"\)/],
    ['a CPU size Fargate does not have', { runner: { type: 'fargate', cpu: 3000 } }, /databases\[0\]\.runner\.cpu: must be a Fargate CPU size: 256, 512, 1024, 2048, 4096, 8192, 16384 .*\(received 3000\)/],
    [
      'too little memory for the CPU',
      { runner: { type: 'fargate', cpu: 4096, memoryMiB: 4096 } },
      /databases\[0\]\.runner\.memoryMiB: is not a Fargate size: 4096 MiB with cpu 4096: Fargate accepts 8192 to 30720 in steps of 1024 MiB there \(received 4096\)/,
    ],
    ['memory off the step', { runner: { type: 'fargate', cpu: 8192, memoryMiB: 20000 } }, /runner\.memoryMiB: is not a Fargate size: 20000 MiB with cpu 8192: .*16384 to 61440 in steps of 4096.* \(received 20000\)/],
    ['the default memory with a small CPU', { runner: { type: 'fargate', cpu: 256 } }, /runner\.memoryMiB: is not a Fargate size: 4096 MiB with cpu 256: Fargate accepts 512, 1024 or 2048 MiB there \(received nothing\)/],
    ['ephemeral storage below Fargate\'s range', { runner: { type: 'fargate', ephemeralStorageGiB: 20 } }, /runner\.ephemeralStorageGiB: must be at least 21 \(Fargate: 21-200 GiB\) \(received 20\)/],
    ['ephemeral storage above Fargate\'s range', { runner: { type: 'fargate', ephemeralStorageGiB: 500 } }, /runner\.ephemeralStorageGiB: must be at most 200 \(Fargate: 21-200 GiB\) \(received 500\)/],
    ['an unknown dump format', { runner: { type: 'fargate', dumpFormat: 'tar' } }, /runner\.dumpFormat: .*\(received "tar"\)/],
    ['Fargate fields on the Lambda runner', { runner: { type: 'lambda', cpu: 1024 } }, /runner\.cpu: unknown key/],
    ['an unknown verification mode', { verification: { mode: 'scratch' } }, /verification\.mode: .*\(received "scratch"\)/],
    [
      'mode "server" without a server',
      { runner: { type: 'fargate' }, verification: { mode: 'server' } },
      /^test\.json: databases\[0\]\.verification\.mode: is "server", which restores into the server of verification\.serverSecretArn, and no serverSecretArn is set \(received "server"\)$/,
    ],
    ['a server that the mode does not use', { verification: { mode: 'ephemeral', serverSecretArn: VERIFY_SECRET } }, /verification\.serverSecretArn: is set but verification\.mode is "ephemeral", which does not use it/],
  ];
  it.each(cases)('%s', (_what, db, expected) => {
    expect(problem(db)).toMatch(expected);
  });
});
