/**
 * Validate Lambda of the failover workflow (in the VPC): proves the new instance against the
 * backup's manifest, the smoke queries and the freshness queries before any cutover (core.ts).
 * `makeHandler(deps)` wires the core to any adapters (tests and the local state-machine harness);
 * `handler` is the Lambda with the real ones, created on first call.
 *
 *   event:  ValidateEvent `{ plan, instance }` (lambda/failover/contract.ts).
 *   env:    PGDR_BUCKET; PGDR_PG_SSLMODE / PGDR_PG_SSLROOTCERT (on AWS: verify-full and the RDS CA
 *           bundle, checked against the instance endpoint); POWERTOOLS_SERVICE_NAME.
 *   result: ValidationResult (`ok: false` with one line per failed check: no cutover); throws
 *           ValidationError when the instance cannot be validated at all (no connection, wrong
 *           password, unreadable secret or manifest).
 *   calls:  secretsmanager:GetSecretValue (the source secret, or the instance's managed master
 *           secret for `dump`); s3:GetObject on the manifest; kms:Decrypt.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { requireEnv, tlsFromEnv } from '../../shared/env';
import type { TlsDefaults } from '../../shared/connection';
import { powertoolsLog } from '../../shared/logging';
import { Clock, LogPort, ObjectStore, SecretReader, systemClock } from '../../shared/ports';
import { S3ObjectStore } from '../../shared/s3-store';
import { secretsManagerReader } from '../../shared/secrets';
import type { ValidateEvent, ValidationResult } from '../contract';
import { validateRecovery } from './core';

export { ValidationError } from './core';

/** What the validate handler talks to. */
export interface ValidateHandlerDeps {
  readonly store: ObjectStore;
  readonly secrets: SecretReader;
  readonly tls: TlsDefaults;
  readonly clock: Clock;
  readonly log: LogPort;
}

/** The validate handler over `deps`. */
export function makeHandler(deps: ValidateHandlerDeps): (event: ValidateEvent) => Promise<ValidationResult> {
  return (event) => validateRecovery(deps, event);
}

let s3: S3Client | undefined;
let secrets: SecretReader | undefined;
let log: LogPort | undefined;

/** The real adapters, from the environment (read at each call: a bad variable fails the call, not the import). */
function lambdaDeps(): ValidateHandlerDeps {
  s3 ??= new S3Client({});
  secrets ??= secretsManagerReader(new SecretsManagerClient({}));
  log ??= powertoolsLog();
  return { store: new S3ObjectStore(s3, requireEnv('PGDR_BUCKET')), secrets, tls: tlsFromEnv(), clock: systemClock, log };
}

/** The Lambda entry point. */
export const handler = (event: ValidateEvent): Promise<ValidationResult> => makeHandler(lambdaDeps())(event);
