/** How every job reports a failed run: one failure metric and one structured error line. */
import type { LogPort, MetricName, MetricsPort } from './ports';
import { redactSecrets } from './redact';

/**
 * Counts `metric` once and logs `message` with the error's message and type. pgdr's own errors
 * carry no secret; the message is redacted anyway (redact.ts), as a server's or a library's text
 * may quote a connection string.
 */
export function reportFailure(
  metrics: MetricsPort,
  log: LogPort,
  metric: Extract<MetricName, 'BackupFailed' | 'VerifyFailed'>,
  message: string,
  attributes: Record<string, unknown>,
  err: unknown,
): void {
  metrics.add(metric, 1, 'Count');
  log.error(message, { ...attributes, error: redactSecrets((err as Error)?.message ?? String(err)), errorType: (err as Error)?.name });
}
