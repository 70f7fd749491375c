/**
 * Report Lambda of the failover workflow (one per stack): actions approval, finish, failed
 * (ReportEvent in ../contract.ts).
 *
 *   result: approval → ApprovalMessage; finish / failed → ReportResult (the state machine publishes
 *           `message` with `subject` to `topicArn`).
 *   errors: InvalidInput (malformed event); S3 errors while writing the record.
 *   env:    PGDR_BUCKET, PGDR_KMS_KEY_ARN (optional: SSE-KMS key of the vault), POWERTOOLS_SERVICE_NAME,
 *           POWERTOOLS_METRICS_NAMESPACE (optional).
 *   calls:  s3:PutObject and s3:GetObject on <database>/recoveries/* (kms:GenerateDataKey / kms:Decrypt).
 */
import { S3Client } from '@aws-sdk/client-s3';
import type { ApprovalMessage, ReportEvent, ReportResult } from '../contract';
import { ReportDeps, runReport } from './core';
import { S3ObjectStore } from '../../shared/s3-store';
import { emfMetricsWithDimensions } from '../../shared/metrics';
import { optionalEnv, requireEnv } from '../../shared/env';
import { powertoolsLog } from '../../shared/logging';
import { Clock, LogPort, ObjectStore, systemClock } from '../../shared/ports';

export interface ReportHandlerDeps {
  readonly store: ObjectStore;
  readonly clock: Clock;
  /** Where EMF lines go. @default process.stdout (Lambda) */
  readonly metricsOut?: NodeJS.WritableStream;
  readonly log?: LogPort;
}

export function makeHandler(deps: ReportHandlerDeps | (() => ReportHandlerDeps)): (event: ReportEvent) => Promise<ApprovalMessage | ReportResult> {
  let resolved: ReportDeps | undefined;
  return async (event) => {
    if (!resolved) {
      const d = typeof deps === 'function' ? deps() : deps;
      resolved = {
        store: d.store,
        clock: d.clock,
        log: d.log,
        metrics: (dimensions) => emfMetricsWithDimensions({ database: dimensions.database, mode: dimensions.mode, source: dimensions.source }, d.metricsOut ?? process.stdout),
      };
    }
    return runReport(resolved, event);
  };
}

/** The Lambda entry point: the S3 client and the store are created on the first invocation. */
export const handler = makeHandler(() => ({
  store: new S3ObjectStore(new S3Client({}), requireEnv('PGDR_BUCKET'), { kmsKeyId: optionalEnv('PGDR_KMS_KEY_ARN') }),
  clock: systemClock,
  log: powertoolsLog(),
}));
