/**
 * Cutover Lambda of the failover workflow (one per stack): actions check, apply, rollback, health
 * (CutoverEvent in ../contract.ts; results in ./core.ts).
 *
 *   errors: InvalidInput (malformed event), CutoverTargetInvalid (check), CutoverFailed (apply,
 *           after undoing what it switched), RollbackFailed (rollback incomplete: fix by hand),
 *           HealthCheckFailed (health).
 *   env:    PGDR_HEALTH_CHECK_CA (optional: PEM text of CAs trusted for the health URL besides
 *           Node.js's public roots),
 *           POWERTOOLS_SERVICE_NAME.
 *   calls:  see aws.ts (Secrets Manager, SSM, Route 53 on the configured targets only).
 */
import { rootCertificates } from 'node:tls';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { Route53Client } from '@aws-sdk/client-route-53';
import type { CutoverEvent } from '../contract';
import { CutoverActionResult, CutoverDeps, runCutover } from './core';
import { httpsProbe, route53Target, secretsManagerTarget, ssmParameterTarget } from './aws';
import { powertoolsLog } from '../../shared/logging';
import { systemClock } from '../../shared/ports';
import { optionalEnv } from '../../shared/env';

export type CutoverHandlerDeps = CutoverDeps;

export function makeHandler(deps: CutoverHandlerDeps | (() => CutoverHandlerDeps)): (event: CutoverEvent) => Promise<CutoverActionResult> {
  let resolved: CutoverHandlerDeps | undefined;
  return async (event) => {
    resolved ??= typeof deps === 'function' ? deps() : deps;
    return runCutover(resolved, event);
  };
}

/** The Lambda entry point: SDK clients created on the first invocation. */
export const handler = makeHandler(() => {
  const extraCa = optionalEnv('PGDR_HEALTH_CHECK_CA');
  return {
    secrets: secretsManagerTarget(new SecretsManagerClient({})),
    parameters: ssmParameterTarget(new SSMClient({})),
    dns: route53Target(new Route53Client({})),
    probe: httpsProbe({ ca: extraCa ? [...rootCertificates, extraCa] : undefined }),
    clock: systemClock,
    sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
    log: powertoolsLog(),
  };
});
