import * as s3 from 'aws-cdk-lib/aws-s3';
import { SHIPPED_CONFIGS, synthConfig } from './synth';

it('the cdk-nag harness reports findings when there are some', () => {
  const { violations } = synthConfig('pgdr.config.json', (stack) => new s3.Bucket(stack, 'CarelessBucket'));
  expect(violations).toEqual(
    expect.arrayContaining([
      { rule: 'AwsSolutions-S1', path: expect.stringContaining('CarelessBucket') },
      { rule: 'AwsSolutions-S10', path: expect.stringContaining('CarelessBucket') },
    ]),
  );
});


describe.each(SHIPPED_CONFIGS)('%s', (configPath) => {
  const synthesized = synthConfig(configPath);

  it('synthesizes with zero unacknowledged cdk-nag AwsSolutions findings', () => {
    expect(synthesized.violations).toEqual([]);
  });

  it('gives every acknowledgement a written reason', () => {
    const acknowledged = Object.values(synthesized.template.toJSON().Resources as Record<string, { Metadata?: any }>).flatMap(
      (r) => r.Metadata?.cdk_nag?.rules_to_suppress ?? [],
    );
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const ack of acknowledged) {
      expect(ack.reason).toEqual(expect.stringMatching(/\w+ \w+ \w+ \w+/));
    }
  });

  it('has one rotating customer-managed key and a locked, KMS-encrypted dump bucket', () => {
    synthesized.template.resourcePropertiesCountIs('AWS::KMS::Key', { EnableKeyRotation: true }, 1);
    synthesized.template.resourceCountIs('AWS::KMS::Key', 1);
  });
});
