/** Structured JSON logs through Powertools Logger (the LogPort adapter used in Lambda). */
import { Logger } from '@aws-lambda-powertools/logger';
import type { LogPort } from './ports';

export function powertoolsLog(serviceName?: string): LogPort {
  const logger = new Logger({ serviceName: serviceName ?? process.env.POWERTOOLS_SERVICE_NAME ?? 'pgdr' });
  return {
    info: (message, attributes) => logger.info(message, attributes ?? {}),
    warn: (message, attributes) => logger.warn(message, attributes ?? {}),
    error: (message, attributes) => logger.error(message, attributes ?? {}),
  };
}

/** JSON lines on a stream (the local runner's --verbose). */
export function streamLog(out: NodeJS.WritableStream): LogPort {
  const write = (level: string) => (message: string, attributes?: Record<string, unknown>) =>
    out.write(`${JSON.stringify({ level, timestamp: new Date().toISOString(), message, ...attributes })}\n`);
  return { info: write('INFO'), warn: write('WARN'), error: write('ERROR') };
}
