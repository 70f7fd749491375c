/**
 * The monitor's CloudWatch adapter for RDS FreeStorageSpace, on a real SDK client answered in
 * process (test/support/sdk-stub.ts): the query it sends and how it reads the newest datapoint.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { cloudWatchStorageReader } from '../../lambda/monitor/storage';
import { stub } from '../support/sdk-stub';

const region = { region: 'eu-west-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example' } };
const NOW = new Date('2026-11-25T12:00:00Z');

test('asks for the minimum FreeStorageSpace of the instance over the last 30 minutes, newest first, and returns the newest value', async () => {
  const s = stub(new CloudWatchClient(region), () => ({ MetricDataResults: [{ Id: 'free', Values: [2_000_000_000, 2_500_000_000], Timestamps: [] }] }));
  expect(await cloudWatchStorageReader(s.client).freeStorageBytes('shop-prod', NOW)).toBe(2_000_000_000);
  expect(s.sent).toHaveLength(1);
  const input = s.sent[0].input;
  expect(s.sent[0].command).toBe('GetMetricDataCommand');
  expect(input).toMatchObject({
    ScanBy: 'TimestampDescending',
    EndTime: NOW,
    StartTime: new Date(NOW.getTime() - 30 * 60_000),
    MetricDataQueries: [{ MetricStat: { Metric: { Namespace: 'AWS/RDS', MetricName: 'FreeStorageSpace', Dimensions: [{ Name: 'DBInstanceIdentifier', Value: 'shop-prod' }] }, Stat: 'Minimum' } }],
  });
});

test('no datapoint (a new instance, or metrics not yet published) is undefined, not zero', async () => {
  const s = stub(new CloudWatchClient(region), () => ({ MetricDataResults: [{ Id: 'free', Values: [] }] }));
  expect(await cloudWatchStorageReader(s.client).freeStorageBytes('shop-prod', NOW)).toBeUndefined();
});
