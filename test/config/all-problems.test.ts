/** A configuration with problems of both kinds (schema and cross-field rules) reports them all at once. */
import { ConfigError, parseConfig } from '../../lib/config';

const db = (name: string, rpo: string) => ({
  name,
  source: { type: 'external', secretArn: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgdr/${name}-AbCdEf`, engineMajorVersion: 15 },
  rpo,
  rto: '1h',
  backupClasses: [{ name: 'daily', schedule: { expression: 'cron(0 3 * * ? *)', timeZone: 'UTC' }, retention: { expireAfterDays: 90 } }],
});

function issuesOf(raw: unknown): string[] {
  try {
    parseConfig(raw, 'test.json');
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected the configuration to be rejected');
}

test('three problems, three lines: a typo at the top, a broken database, an RPO no schedule meets', () => {
  const issues = issuesOf({ stackNmae: 'X', databases: [{ ...db('broken', '24h'), rto: 'soon' }, db('shop', '2h'), db('shop', '24h')] });
  expect(issues).toEqual([
    expect.stringMatching(/^databases\[0\]\.rto: must be a duration/),
    'stackNmae: unknown key (check the spelling; allowed keys are listed in the README)',
    expect.stringMatching(/^databases\[1\]\.rpo: cannot be met: the backup schedules leave up to 1d between two dumps \(received "2h"\)$/),
    expect.stringMatching(/^databases\[2\]\.name: duplicate database name, already used by databases\[1\]/),
  ]);
});

test('the message lists every problem, one per line', () => {
  try {
    parseConfig({ databases: [{ ...db('alpha', '2h'), rto: 'soon' }, db('beta', '2h')] }, 'test.json');
    throw new Error('expected a ConfigError');
  } catch (err) {
    expect((err as Error).message.split('\n')).toEqual([
      'test.json: 2 problems',
      expect.stringMatching(/^ {2}- databases\[0\]\.rto: /),
      expect.stringMatching(/^ {2}- databases\[1\]\.rpo: cannot be met/),
    ]);
  }
});
