import * as s3 from 'aws-cdk-lib/aws-s3';
import { NagViolation, SHIPPED_CONFIGS, synthConfig } from './synth';

/** The packs every pgdr app runs (lib/nag.ts): their rule ids start with these prefixes. */
const PACKS = ['AwsSolutions', 'NIST.800.53.R5', 'HIPAA.Security', 'PCI.DSS.321'];

/** Unacknowledged findings grouped by pack, as `rule path` lines (readable when the test fails). */
function byPack(violations: NagViolation[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const v of violations) {
    const pack = PACKS.find((p) => v.rule.startsWith(`${p}-`)) ?? 'unknown';
    (out[pack] ??= []).push(`${v.rule} ${v.path}`);
  }
  return out;
}

/** A rule id without its pack prefix and finding suffix: `HIPAA.Security-LambdaDLQ` and `NIST.800.53.R5-LambdaDLQ` are one cause. */
function ruleOf(id: string): string {
  const pack = PACKS.find((p) => id.startsWith(`${p}-`));
  return (pack ? id.slice(pack.length + 1) : id).replace(/\[.*$/, '');
}

interface Acknowledgement {
  readonly id: string;
  readonly reason: string;
}

it('the cdk-nag harness reports findings of every pack when there are some', () => {
  const { violations } = synthConfig('pgdr.config.json', (stack) => new s3.Bucket(stack, 'CarelessBucket'));
  const careless = violations.filter((v) => v.path.includes('CarelessBucket')).map((v) => v.rule);
  expect(careless).toEqual(
    expect.arrayContaining([
      'AwsSolutions-S1',
      'AwsSolutions-S10',
      'NIST.800.53.R5-S3BucketLoggingEnabled',
      'HIPAA.Security-S3BucketSSLRequestsOnly',
      'PCI.DSS.321-S3BucketVersioningEnabled',
    ]),
  );
});

describe.each(SHIPPED_CONFIGS)('%s', (configPath) => {
  // One synthesis per configuration; the four packs all run on it.
  const synthesized = synthConfig(configPath);
  const resources = synthesized.template.toJSON().Resources as Record<string, { Type: string; Metadata?: any }>;
  const acknowledged: Acknowledgement[] = Object.values(resources).flatMap((r) => r.Metadata?.cdk_nag?.rules_to_suppress ?? []);

  it('synthesizes with zero unacknowledged findings in AwsSolutions, NIST 800-53 R5, HIPAA Security and PCI DSS 3.2.1', () => {
    expect(byPack(synthesized.violations)).toEqual({});
  });

  it('gives every acknowledgement a written reason', () => {
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const ack of acknowledged) {
      expect(ack.reason).toEqual(expect.stringMatching(/\w+ \w+ \w+ \w+/));
    }
  });

  it('never gives two different rules the same reason word for word (the same rule in several packs is one cause)', () => {
    const rulesByReason = new Map<string, Set<string>>();
    for (const ack of acknowledged.filter((a) => PACKS.some((p) => a.id.startsWith(`${p}-`)))) {
      const rules = rulesByReason.get(ack.reason) ?? new Set<string>();
      rules.add(ruleOf(ack.id));
      rulesByReason.set(ack.reason, rules);
    }
    const shared = [...rulesByReason].filter(([, rules]) => rules.size > 1).map(([reason, rules]) => `${[...rules].join(', ')}: "${reason}"`);
    expect(shared).toEqual([]);
  });

  it('claims no alarm in an acknowledgement while the stack has none', () => {
    const alarms = Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
    const claims = acknowledged.filter((a) => /\balarmed\b|\balarm (on|watches|fires|pages)\b/i.test(a.reason));
    expect(alarms.length > 0 ? [] : claims).toEqual([]);
  });
});
