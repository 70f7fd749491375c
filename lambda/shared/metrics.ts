/**
 * Metrics in CloudWatch embedded metric format through Powertools Metrics: namespace `PgDr`
 * (POWERTOOLS_METRICS_NAMESPACE overrides), exactly the dimensions given — `database` and `class`
 * for the backup jobs, `database`, `mode` and `source` for recoveries (Powertools' default
 * `service` dimension is removed so alarms match on these alone).
 */
import { Metrics, MetricUnit as PtUnit } from '@aws-lambda-powertools/metrics';
import type { MetricName, MetricsFactory, MetricsPort, MetricUnit } from './ports';

export const METRICS_NAMESPACE = 'PgDr';

const UNITS: Record<MetricUnit, (typeof PtUnit)[keyof typeof PtUnit]> = {
  Count: PtUnit.Count,
  Bytes: PtUnit.Bytes,
  Seconds: PtUnit.Seconds,
  Percent: PtUnit.Percent,
  None: PtUnit.NoUnit,
};

/** EMF metrics for one run with exactly `dimensions` (one dimension set); lines go to stdout (Lambda) or `out`. */
export function emfMetricsWithDimensions(dimensions: Record<string, string>, out: NodeJS.WritableStream = process.stdout): MetricsPort {
  const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || METRICS_NAMESPACE });
  metrics.clearDefaultDimensions();
  metrics.addDimensions(dimensions);
  return {
    add: (name: MetricName, value: number, unit: MetricUnit) => metrics.addMetric(name, UNITS[unit], value),
    // serializeMetrics() is what publishStoredMetrics() prints; writing it ourselves lets the
    // local runner and tests choose the stream.
    flush: () => {
      if (!metrics.hasStoredMetrics()) return;
      out.write(`${JSON.stringify(metrics.serializeMetrics())}\n`);
      metrics.clearMetrics();
    },
  };
}

/** EMF metrics of a backup job run: dimensions `database` and `class`. */
export function emfMetrics(database: string, backupClass: string, out: NodeJS.WritableStream = process.stdout): MetricsPort {
  return emfMetricsWithDimensions({ database, class: backupClass }, out);
}

export const emfMetricsFactory: MetricsFactory = (database, backupClass) => emfMetrics(database, backupClass);
