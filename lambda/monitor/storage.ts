/**
 * The RDS `FreeStorageSpace` metric through CloudWatch GetMetricData (the StorageReader port): the
 * newest 1-minute-or-coarser datapoint of the last 30 minutes. Action: cloudwatch:GetMetricData
 * (it takes no resource).
 */
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import type { StorageReader } from './core';

const LOOKBACK_MS = 30 * 60_000;

export function cloudWatchStorageReader(client: CloudWatchClient): StorageReader {
  return {
    async freeStorageBytes(instanceIdentifier: string, now: Date): Promise<number | undefined> {
      const out = await client.send(
        new GetMetricDataCommand({
          StartTime: new Date(now.getTime() - LOOKBACK_MS),
          EndTime: now,
          ScanBy: 'TimestampDescending',
          MetricDataQueries: [
            {
              Id: 'free',
              MetricStat: {
                Metric: { Namespace: 'AWS/RDS', MetricName: 'FreeStorageSpace', Dimensions: [{ Name: 'DBInstanceIdentifier', Value: instanceIdentifier }] },
                Period: 60,
                Stat: 'Minimum',
              },
              ReturnData: true,
            },
          ],
        }),
      );
      const values = out.MetricDataResults?.[0]?.Values ?? [];
      return values.length > 0 ? values[0] : undefined;
    },
  };
}
