import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, formatSeconds, loadConfig, parseConfig, parseDuration } from '../../lib/config';

/** A small valid configuration; each invalid case below breaks one thing in a fresh copy. */
function validConfig(): any {
  return {
    databases: [
      {
        name: 'shop',
        source: { type: 'external', secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgdr/shop-AbCdEf', engineMajorVersion: 15 },
        rpo: '24h',
        rto: '1h',
        backupClasses: [
          { name: 'daily', schedule: { expression: 'cron(0 3 * * ? *)', timeZone: 'Europe/Berlin' }, retention: { standardIaAfterDays: 30, expireAfterDays: 90 } },
        ],
      },
    ],
  };
}

function errorOf(mutate: (c: any) => void): ConfigError {
  const config = validConfig();
  mutate(config);
  try {
    parseConfig(config, 'test.json');
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('valid configuration', () => {
  it('fills every default an SRE would expect', () => {
    const config = parseConfig(validConfig());
    expect(config.stackName).toBe('Pgdr');
    expect(config.vault).toEqual({ objectLock: { mode: 'GOVERNANCE', days: 7 }, noncurrentVersionExpirationDays: 30, removalPolicy: 'retain' });
    const db = config.databases[0];
    expect(db.rpo).toEqual({ text: '24h', seconds: 86400 });
    expect(db.verification).toEqual({ restoreTestEveryNth: 1, smokeQueries: [] });
    expect(db.failover).toMatchObject({ instanceClass: 'db.t4g.medium', multiAz: false, securityGroupIds: [], cutover: {}, requireApproval: true });
    expect(db.drill.maxAge.seconds).toBe(90 * 86400);
    expect(db.jobs.dump).toEqual({ memoryMiB: 1769, timeout: { text: '15m', seconds: 900 } });
    expect(db.jobs.verify.memoryMiB).toBe(2048);
    expect(db.jobs.verify.ephemeralStorageMiB).toBe(10240);
    expect(config.paging).toEqual({ critical: { emails: [], httpsEndpoints: [], httpsEndpointSecrets: [] }, warning: { emails: [], httpsEndpoints: [], httpsEndpointSecrets: [] } });
  });

  it('accepts a break-glass principal for the vault key: a role (with a path), a user or an account root', () => {
    for (const arn of ['arn:aws:iam::111122223333:role/security/pgdr-break-glass', 'arn:aws:iam::123456789012:user/alice', 'arn:aws-us-gov:iam::123456789012:root']) {
      const c = validConfig();
      c.vault = { breakGlassPrincipalArn: arn };
      expect(parseConfig(c).vault.breakGlassPrincipalArn).toBe(arn);
    }
  });

  it('accepts an RDS source with point-in-time recovery and an RPO below the dump interval', () => {
    const config = validConfig();
    config.databases[0].source = {
      type: 'rds',
      instanceIdentifier: 'shop-prod',
      secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds/shop-AbCdEf',
      engineMajorVersion: 16,
    };
    config.databases[0].rpo = '5m';
    expect(parseConfig(config).databases[0].source).toMatchObject({ type: 'rds', pointInTimeRecovery: true });
  });

  it('meets an hourly RPO with an hourly class next to a daily one', () => {
    const config = validConfig();
    config.databases[0].rpo = '1h';
    config.databases[0].backupClasses.push({ name: 'hourly', schedule: { expression: 'rate(1 hour)' }, retention: { expireAfterDays: 7 } });
    expect(parseConfig(config).databases[0].backupClasses).toHaveLength(2);
  });

  it('accepts a major outside the default layer builds when a layer is configured for it', () => {
    const config = validConfig();
    config.databases[0].source.engineMajorVersion = 14;
    config.pgTools = { layerArns: { '14': 'arn:aws:lambda:eu-west-1:123456789012:layer:pg14:2' } };
    expect(parseConfig(config).pgTools.layerArns['14']).toMatch(/layer:pg14:2$/);
  });

  it('reads EventBridge day-of-week numbers from Sunday = 1', () => {
    const config = validConfig();
    config.databases[0].rpo = '7d';
    config.databases[0].backupClasses[0].schedule = { expression: 'cron(0 2 ? * 2 *)' };
    expect(() => parseConfig(config)).not.toThrow();
  });
});

describe('invalid configuration: one clear line naming the field, the rule and the value', () => {
  const cases: [string, (c: any) => void, RegExp][] = [
    ['no databases', (c) => (c.databases = []), /^test\.json: databases: at least one database is needed \(received \[\]\)$/],
    ['unknown top-level key', (c) => (c.databases2 = []), /databases2: unknown key/],
    ['unknown nested key (typo)', (c) => (c.databases[0].backupClasses[0].retention.expireAfterDay = 3), /databases\[0\]\.backupClasses\[0\]\.retention\.expireAfterDay: unknown key/],
    ['bad duration', (c) => (c.databases[0].rpo = '1 hour'), /databases\[0\]\.rpo: must be a duration such as .* \(received "1 hour"\)/],
    ['missing rto', (c) => delete c.databases[0].rto, /databases\[0\]\.rto: is required/],
    ['bad database name', (c) => (c.databases[0].name = 'Shop_DB'), /databases\[0\]\.name: a database name must be .* \(received "Shop_DB"\)/],
    ['duplicate database names', (c) => c.databases.push(structuredClone(c.databases[0])), /databases\[1\]\.name: duplicate database name, already used by databases\[0\] \(received "shop"\)/],
    ['duplicate class names', (c) => c.databases[0].backupClasses.push(structuredClone(c.databases[0].backupClasses[0])), /databases\[0\]\.backupClasses\[1\]\.name: duplicate backup class name/],
    ['unknown source type', (c) => (c.databases[0].source.type = 'aurora'), /databases\[0\]\.source\.type: Invalid discriminator value\. Expected 'rds' \| 'external' \(received "aurora"\)/],
    ['bad secret ARN', (c) => (c.databases[0].source.secretArn = 'pgdr/shop'), /databases\[0\]\.source\.secretArn: must be the complete Secrets Manager secret ARN, with its 6-character suffix .* \(received "pgdr\/shop"\)/],
    ['unsupported engine major', (c) => (c.databases[0].source.engineMajorVersion = 11), /databases\[0\]\.source\.engineMajorVersion: PostgreSQL 13 or newer is supported \(received 11\)/],
    ['engine major without client tools', (c) => (c.databases[0].source.engineMajorVersion = 14), /databases\[0\]\.source\.engineMajorVersion: has no PostgreSQL client tools: the default layer is built for 15, 16, 17; set pgTools\.layerArns\["14"\] .* \(received 14\)/],
    ['tools directory that does not exist', (c) => (c.pgTools = { directories: { '15': '/nonexistent/pg15' } }), /pgTools\.directories\.15: must be a directory holding bin\/pg_dump and lib\/ .* \(received "\/nonexistent\/pg15"\)/],
    ['RPO shorter than the schedule interval', (c) => (c.databases[0].rpo = '1h'), /databases\[0\]\.rpo: cannot be met: the backup schedules leave up to 1d between two dumps \(received "1h"\)/],
    ['RPO below what RDS PITR can do', (c) => {
      c.databases[0].source = { type: 'rds', instanceIdentifier: 'db1', secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf', engineMajorVersion: 15 };
      c.databases[0].rpo = '1m';
    }, /databases\[0\]\.rpo: cannot be met: RDS point-in-time recovery loses up to 5m .* \(received "1m"\)/],
    ['expiry shorter than the RPO', (c) => {
      c.databases[0].rpo = '7d';
      c.databases[0].backupClasses[0].schedule.expression = 'cron(0 3 ? * 1 *)';
      c.databases[0].backupClasses[0].retention = { expireAfterDays: 3 };
    }, /databases\[0\]\.backupClasses\[0\]\.retention\.expireAfterDays: is shorter than the database's rpo \(7d\).* \(received 3\)/],
    ['Standard-IA before the S3 minimum', (c) => (c.databases[0].backupClasses[0].retention.standardIaAfterDays = 7), /retention\.standardIaAfterDays: must be at least 30 \(S3 minimum .*\) \(received 7\)/],
    ['transitions not increasing', (c) => (c.databases[0].backupClasses[0].retention.glacierIrAfterDays = 45), /retention\.glacierIrAfterDays: must be at least standardIaAfterDays \+ 30 = 60 .* \(received 45\)/],
    ['expiry before the last transition', (c) => (c.databases[0].backupClasses[0].retention.expireAfterDays = 30), /retention\.expireAfterDays: must be greater than the last transition day \(30\) \(received 30\)/],
    ['cron with five fields', (c) => (c.databases[0].backupClasses[0].schedule.expression = 'cron(0 3 * * *)'), /schedule\.expression: a cron expression has 6 fields .* \(received "cron\(0 3 \* \* \*\)"\)/],
    ['cron with both day fields set', (c) => (c.databases[0].backupClasses[0].schedule.expression = 'cron(0 3 * * 1 *)'), /schedule\.expression: exactly one of day-of-month and day-of-week must be "\?"/],
    ['rate with a wrong unit form', (c) => (c.databases[0].backupClasses[0].schedule.expression = 'rate(1 hours)'), /schedule\.expression: EventBridge wants "rate\(1 hour\)"/],
    ['unknown time zone', (c) => (c.databases[0].backupClasses[0].schedule.timeZone = 'Mars/Olympus'), /schedule\.timeZone: must be an IANA time zone .* \(received "Mars\/Olympus"\)/],
    ['no scheduled class and no PITR', (c) => delete c.databases[0].backupClasses[0].schedule, /databases\[0\]\.backupClasses: cannot meet the rpo: no backup class has a schedule/],
    ['no restore test at all', (c) => (c.databases[0].verification = { restoreTestEveryNth: 0 }), /verification\.restoreTestEveryNth: is 0 and no restoreTestSchedule is set/],
    ['verify job ephemeral storage beyond the Lambda limit', (c) => (c.databases[0].jobs = { verify: { ephemeralStorageMiB: 20480 } }), /jobs\.verify\.ephemeralStorageMiB: /],
    ['Lambda timeout above 15 minutes', (c) => (c.databases[0].jobs = { dump: { timeout: '20m' } }), /jobs\.dump\.timeout: must be at most "15m" \(the Lambda limit\) \(received "20m"\)/],
    ['paging e-mail without a domain', (c) => (c.paging = { critical: { emails: ['oncall'] } }), /paging\.critical\.emails\[0\]: must be an e-mail address \(received "oncall"\)/],
    ['paging endpoint over plain http', (c) => (c.paging = { warning: { httpsEndpoints: ['http://pager.example/hook'] } }), /paging\.warning\.httpsEndpoints\[0\]: must be an https:\/\/ URL/],
    ['bad security group id', (c) => (c.databases[0].failover = { securityGroupIds: ['default'] }), /failover\.securityGroupIds\[0\]: must be a security group ID/],
    ['break-glass principal that is a session, not a role', (c) => (c.vault = { breakGlassPrincipalArn: 'arn:aws:sts::123456789012:assumed-role/admin/alice' }), /^test\.json: vault\.breakGlassPrincipalArn: must be the ARN of an IAM role, an IAM user or an account root, without wildcards .* \(received "arn:aws:sts::123456789012:assumed-role\/admin\/alice"\)$/],
    ['break-glass principal with a wildcard', (c) => (c.vault = { breakGlassPrincipalArn: 'arn:aws:iam::123456789012:role/*' }), /vault\.breakGlassPrincipalArn: must be the ARN of an IAM role.* \(received "arn:aws:iam::123456789012:role\/\*"\)/],
    ['Object Lock mode misspelt', (c) => (c.vault = { objectLock: { mode: 'governance' } }), /vault\.objectLock\.mode: .* \(received "governance"\)/],
  ];

  it.each(cases)('%s', (_name, mutate, expected) => {
    const err = errorOf(mutate);
    expect(err.issues).toHaveLength(1);
    expect(err.message).not.toContain('\n');
    expect(err.message).toMatch(expected);
  });

  it('lists every problem when there are several, one per line', () => {
    const err = errorOf((c) => {
      c.databases[0].rpo = 'soon';
      c.databases[0].rto = 'later';
    });
    expect(err.issues).toEqual([
      expect.stringMatching(/^databases\[0\]\.rpo: .*\(received "soon"\)$/),
      expect.stringMatching(/^databases\[0\]\.rto: .*\(received "later"\)$/),
    ]);
    expect(err.message.split('\n')).toHaveLength(3);
  });
});

describe('loadConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgdr-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names the file when it cannot be read', () => {
    expect(() => loadConfig(join(dir, 'missing.json'))).toThrow(/missing\.json: cannot read the configuration file \(ENOENT\)/);
  });

  it('names the file when it is not JSON', () => {
    const path = join(dir, 'broken.json');
    writeFileSync(path, '{ "databases": [ }');
    expect(() => loadConfig(path)).toThrow(/broken\.json: is not valid JSON/);
  });

  it('loads the default configuration and every example', () => {
    for (const path of ['pgdr.config.json', ...['1-ticketing-club', '2-retail-inventory', '3-clinic-booking', '4-school-admissions', '5-event-platform'].map((n) => `examples/${n}.json`)]) {
      expect(loadConfig(path).databases.length).toBeGreaterThan(0);
    }
  });
});

describe('durations', () => {
  it('parses and formats the forms humans write', () => {
    expect(parseDuration('90s')).toBe(90);
    expect(parseDuration('1h30m')).toBe(5400);
    expect(parseDuration('7d')).toBe(604800);
    expect(parseDuration('0m')).toBeUndefined();
    expect(parseDuration('1.5h')).toBeUndefined();
    expect(formatSeconds(5400)).toBe('1h30m');
    expect(formatSeconds(86400)).toBe('1d');
  });
});
