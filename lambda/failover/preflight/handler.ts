/**
 * Preflight Lambda of the failover workflow (state `Preflight`): PreflightEvent → RecoveryPlan, or
 * an error named `InvalidInput` (the input cannot be used; nothing was created) or `InvalidEvent`
 * (the state machine passed a malformed event: a deployment bug).
 *
 *   env:   PGDR_BUCKET (the backup vault), POWERTOOLS_SERVICE_NAME.
 *   calls: s3:GetObject on <database>/* (latest-verified pointer, manifests, verification records),
 *          kms:Decrypt; rds:DescribeDBInstances on the configured source instances,
 *          rds:DescribeDBSnapshots (their snapshots).
 */
import { S3Client } from '@aws-sdk/client-s3';
import { RDSClient } from '@aws-sdk/client-rds';
import type { PreflightEvent, RecoveryPlan } from '../contract';
import { buildPlan, PreflightDeps } from './core';
import { rdsReader } from './rds';
import { requireEnv } from '../../shared/env';
import { S3ObjectStore } from '../../shared/s3-store';
import { powertoolsLog } from '../../shared/logging';
import { systemClock } from '../../shared/ports';

/** The handler's dependencies, or a factory called on the first event (the real AWS wiring). */
export type PreflightHandlerDeps = PreflightDeps | (() => PreflightDeps);

export function makeHandler(deps: PreflightHandlerDeps): (event: PreflightEvent) => Promise<RecoveryPlan> {
  let resolved: PreflightDeps | undefined;
  return async (event) => {
    resolved ??= typeof deps === 'function' ? deps() : deps;
    try {
      return await buildPlan(resolved, event);
    } catch (err) {
      resolved.log?.warn('preflight: refused', { error: (err as Error).name, message: (err as Error).message });
      throw err;
    }
  };
}

export const handler = makeHandler(() => ({
  store: new S3ObjectStore(new S3Client({}), requireEnv('PGDR_BUCKET')),
  rds: rdsReader(new RDSClient({})),
  clock: systemClock,
  log: powertoolsLog(),
}));
