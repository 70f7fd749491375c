/** The metrics pgdr's own jobs publish (namespace `PgDr`), typed by the names the Lambda code uses. */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { METRICS_NAMESPACE } from '../lambda/shared/metrics';
import type { MetricName } from '../lambda/shared/ports';
import type { MonitorMetric } from '../lambda/monitor/contract';

/** Statistic and period of a metric helper's result. */
export interface PgdrMetricOptions {
  /** @default "Maximum" */
  readonly statistic?: string;
  /** @default Duration.minutes(5) */
  readonly period?: Duration;
}

/** A `PgDr` metric with exactly these dimensions (the jobs publish one dimension set each). */
export function pgdrMetric(name: MetricName | MonitorMetric, dimensions: Record<string, string>, options: PgdrMetricOptions = {}): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: dimensions,
    statistic: options.statistic ?? cloudwatch.Stats.MAXIMUM,
    period: options.period ?? Duration.minutes(5),
  });
}
