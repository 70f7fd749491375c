/** How every job reports a failed run: one failure metric and one structured error line. */
import type { LogPort, MetricName, MetricsPort } from './ports';

/** Counts `metric` once and logs `message` with the error's message and type (never a secret: errors carry none). */
export function reportFailure(
  metrics: MetricsPort,
  log: LogPort,
  metric: Extract<MetricName, 'BackupFailed' | 'VerifyFailed'>,
  message: string,
  attributes: Record<string, unknown>,
  err: unknown,
): void {
  metrics.add(metric, 1, 'Count');
  log.error(message, { ...attributes, error: (err as Error)?.message ?? String(err), errorType: (err as Error)?.name });
}
