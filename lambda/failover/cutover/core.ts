/**
 * The cutover job of the failover workflow: switches the application's traffic to the new instance
 * through the configured targets (Secrets Manager secret, SSM parameter, Route 53 record), undoes
 * exactly what it switched, and probes the application's health endpoint afterwards.
 *
 * Actions (CutoverEvent):
 *   - check: every configured target exists and can be switched (runs before any RDS call);
 *   - apply: switch, idempotently (a Lambda retry or a redrive of the same execution changes
 *     nothing twice); a partial failure undoes what was switched and throws CutoverFailed;
 *   - rollback: undo exactly what a CutoverResult lists, nothing else; a target someone changed
 *     after the cutover is not overwritten (RollbackFailed names it); a second rollback is a no-op;
 *   - health: GET the health URL until it answers 2xx within its timeout, else HealthCheckFailed.
 *
 * Pure core: no AWS SDK. The ports follow the AWS APIs' semantics (aws.ts adapts them); the clock
 * and sleep are injected so tests never wait. No secret value ever appears in an error, a log line
 * or the result: values are only compared and rewritten.
 */
import { createHash } from 'node:crypto';
import type { CutoverEvent, CutoverResult, InstanceState, RecoveryPlan } from '../contract';
import { Clock, LogPort, seconds, silentLog } from '../../shared/ports';
import { redactSecrets } from '../../shared/redact';
import { namedError } from '../../shared/named-error';

// ---------------------------------------------------------------- ports

/** The current version of a secret (AWSCURRENT) and the version that carries AWSPREVIOUS. */
export interface SecretVersion {
  readonly versionId: string;
  readonly value: string;
  readonly previousVersionId: string | null;
}

/** Secrets Manager: GetSecretValue + DescribeSecret, PutSecretValue, UpdateSecretVersionStage. */
export interface SecretTarget {
  /** The AWSCURRENT value and version, or undefined when the secret does not exist. */
  current(secretId: string): Promise<SecretVersion | undefined>;
  /**
   * PutSecretValue with a ClientRequestToken: the new version gets AWSCURRENT, the old current
   * AWSPREVIOUS. The same token with the same value again is a no-op. Returns the version id.
   */
  put(secretId: string, value: string, clientRequestToken: string): Promise<string>;
  /** UpdateSecretVersionStage AWSCURRENT: move it to `toVersionId`, removing it from `fromVersionId`. */
  moveCurrent(secretId: string, toVersionId: string, fromVersionId: string): Promise<void>;
}

export interface ParameterValue {
  readonly value: string;
  readonly version: number;
  /** String, StringList or SecureString. */
  readonly type: string;
}

/** SSM Parameter Store: GetParameter (decrypted), PutParameter (Overwrite), DeleteParameter. */
export interface ParameterTarget {
  /** The value (of `version` when given, else the latest), or undefined when there is none. */
  get(name: string, version?: number): Promise<ParameterValue | undefined>;
  /** PutParameter Overwrite: true (keeps the parameter's type); returns the new version. */
  put(name: string, value: string): Promise<number>;
  delete(name: string): Promise<void>;
}

export interface DnsRecord {
  readonly name: string;
  readonly type: string;
  readonly ttl: number | null;
  readonly values: string[];
  /** An alias record (AliasTarget): it has no values and cannot become a CNAME. */
  readonly alias: boolean;
  /** Weighted/latency/failover/geo routing (SetIdentifier). */
  readonly setIdentifier: string | null;
}

/** Route 53: GetHostedZone, ListResourceRecordSets, ChangeResourceRecordSets. */
export interface DnsTarget {
  /** The zone's name (e.g. "example.com." ), or undefined when there is no such zone. */
  zoneName(hostedZoneId: string): Promise<string | undefined>;
  /** Every record set whose name is exactly `name` (all types). */
  recordSets(hostedZoneId: string, name: string): Promise<DnsRecord[]>;
  change(hostedZoneId: string, action: 'UPSERT' | 'DELETE', record: { name: string; type: string; ttl: number; values: string[] }): Promise<void>;
}

/** One HTTP(S) GET: the status code, or a rejection (connection refused, TLS, timeout). */
export interface HttpProbe {
  get(url: string, timeoutMs: number): Promise<number>;
}

export interface CutoverDeps {
  readonly secrets: SecretTarget;
  readonly parameters: ParameterTarget;
  readonly dns: DnsTarget;
  readonly probe: HttpProbe;
  readonly clock: Clock;
  readonly sleep: (ms: number) => Promise<void>;
  readonly log?: LogPort;
  /** Between health probes. @default 5000 */
  readonly probeIntervalMs?: number;
  /** One probe's limit. @default 10000 */
  readonly probeTimeoutMs?: number;
}

// ---------------------------------------------------------------- errors and results

/** A configured cutover target is missing or cannot be switched (check). */
export class CutoverTargetInvalid extends Error {
  constructor(readonly problems: string[]) {
    super(`cutover targets are not usable: ${problems.join('; ')}`);
    this.name = 'CutoverTargetInvalid';
  }
}

/** apply failed; what it had switched was rolled back (or the message says what could not be). */
export class CutoverFailed extends namedError('CutoverFailed') {}

/** rollback could not undo everything (the message names what is left switched). */
export class RollbackFailed extends namedError('RollbackFailed') {}

/** The health URL did not answer 2xx within its timeout. */
export class HealthCheckFailed extends namedError('HealthCheckFailed') {}

/** The event is not one of the four actions, or lacks what the action needs. */
export class InvalidCutoverEvent extends namedError('InvalidInput') {}

export interface CheckResult {
  readonly ok: true;
  /** The targets checked, e.g. ["secret arn:...", "ssm /app/db", "route53 db.example.com. in Z1"]; empty: nothing to do. */
  readonly targets: string[];
}

export interface RollbackResult {
  readonly at: string;
  /** What was undone, one line each (empty when nothing had been applied). */
  readonly undone: string[];
}

export interface HealthResult {
  readonly ok: true;
  /** null: no health check configured. */
  readonly url: string | null;
  readonly status: number | null;
  readonly attempts: number;
  readonly seconds: number;
  readonly at: string;
}

export type CutoverActionResult = CheckResult | CutoverResult | RollbackResult | HealthResult;

// ---------------------------------------------------------------- helpers

const errorText = (err: unknown): string => redactSecrets(`${(err as Error)?.name ?? 'Error'}: ${(err as Error)?.message ?? String(err)}`);

/** ClientRequestToken of this execution's secret version (32-64 characters; the same on every retry). */
export function secretRequestToken(executionName: string, secretId: string): string {
  return `pgdr-${createHash('sha256').update(`${executionName}\n${secretId}`).digest('hex').slice(0, 40)}`;
}

function parseSecret(value: string): Record<string, unknown> | undefined {
  try {
    const doc: unknown = JSON.parse(value);
    return doc && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The secret's JSON with host/port (and dbInstanceIdentifier when present) of the instance. */
export function switchedSecretValue(value: string, instance: { identifier: string; host: string; port: number }): string {
  const doc = parseSecret(value);
  if (!doc) throw new Error('the secret is not a JSON object');
  // The port keeps its JSON type (some secrets hold it as a string).
  const next: Record<string, unknown> = { ...doc, host: instance.host, port: typeof doc.port === 'string' ? String(instance.port) : instance.port };
  if ('dbInstanceIdentifier' in doc) next.dbInstanceIdentifier = instance.identifier;
  return JSON.stringify(next);
}

const URL_FORM = /^(postgres(?:ql)?:\/\/)([^/?#]*)(.*)$/is;
const HOST_PORT_FORM = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/;
const HOST_FORM = /^[A-Za-z0-9.-]+$/;

/** Which of the supported forms an SSM value has (undefined: none). */
export function parameterForm(value: string): 'url' | 'host:port' | 'host' | undefined {
  const v = value.trim();
  if (URL_FORM.test(v)) return 'url';
  if (HOST_PORT_FORM.test(v)) return 'host:port';
  if (HOST_FORM.test(v)) return 'host';
  return undefined;
}

/**
 * The SSM value pointed at the new endpoint, in the same form: a postgres:// URL keeps its scheme,
 * user info (password untouched), database, query and fragment, only host:port change (several
 * libpq hosts become the one); `host:port` stays `host:port`; a bare host stays a bare host.
 */
export function switchedParameterValue(value: string, host: string, port: number): string {
  const v = value.trim();
  const url = URL_FORM.exec(v);
  if (url) {
    const [, scheme, authority, rest] = url;
    const at = authority.lastIndexOf('@');
    const userinfo = at >= 0 ? authority.slice(0, at + 1) : '';
    return `${scheme}${userinfo}${host}:${port}${rest}`;
  }
  if (HOST_PORT_FORM.test(v)) return `${host}:${port}`;
  if (HOST_FORM.test(v)) return host;
  throw new Error('the value is neither a postgres:// URL, host:port nor a host name');
}

/** A DNS name in canonical form: lower case, one trailing dot. */
export function fqdn(name: string): string {
  const n = name.trim().toLowerCase().replace(/\.+$/, '');
  return `${n}.`;
}

/** A value that may contain a password is not carried in the state: null (rollback reads it from SSM by version). */
function keepableParameterValue(p: ParameterValue): string | null {
  return p.type === 'SecureString' || redactSecrets(p.value) !== p.value ? null : p.value;
}

function requireInstance(instance: InstanceState | undefined): { identifier: string; host: string; port: number } {
  if (!instance || typeof instance.identifier !== 'string' || typeof instance.host !== 'string' || !instance.host || typeof instance.port !== 'number') {
    throw new InvalidCutoverEvent('apply needs "instance" with identifier, host and port (the new instance must be available)');
  }
  return { identifier: instance.identifier, host: instance.host, port: instance.port };
}

function requirePlan(plan: RecoveryPlan | undefined): RecoveryPlan {
  if (!plan || typeof plan !== 'object' || !plan.cutover || !plan.execution) throw new InvalidCutoverEvent('the event needs "plan" (the RecoveryPlan)');
  return plan;
}

// ---------------------------------------------------------------- check

export async function checkTargets(deps: CutoverDeps, plan: RecoveryPlan): Promise<CheckResult> {
  const { secretArn, ssmParameterName, route53 } = plan.cutover;
  const problems: string[] = [];
  const targets: string[] = [];
  const attempt = async (what: string, fn: () => Promise<string | undefined>) => {
    targets.push(what);
    try {
      const problem = await fn();
      if (problem) problems.push(`${what}: ${problem}`);
    } catch (err) {
      problems.push(`${what}: cannot be read (${errorText(err)})`);
    }
  };
  if (secretArn) {
    await attempt(`secret ${secretArn}`, async () => {
      const current = await deps.secrets.current(secretArn);
      if (!current) return 'does not exist';
      const doc = parseSecret(current.value);
      if (!doc) return 'its value is not a JSON object';
      if (typeof doc.host !== 'string' || doc.host === '') return 'its JSON has no "host" string';
      if (doc.port === undefined || !Number.isInteger(Number(doc.port))) return 'its JSON has no numeric "port"';
      return undefined;
    });
  }
  if (ssmParameterName) {
    await attempt(`SSM parameter ${ssmParameterName}`, async () => {
      const p = await deps.parameters.get(ssmParameterName);
      if (!p) return 'does not exist';
      if (p.type === 'StringList') return 'is a StringList (expected String or SecureString holding one endpoint)';
      if (!parameterForm(p.value)) return 'its value is neither a postgres:// URL, host:port nor a host name';
      return undefined;
    });
  }
  if (route53) {
    const name = fqdn(route53.recordName);
    await attempt(`Route 53 record ${name} in hosted zone ${route53.hostedZoneId}`, async () => {
      const zone = await deps.dns.zoneName(route53.hostedZoneId);
      if (zone === undefined) return 'the hosted zone does not exist';
      const zoneName = fqdn(zone);
      if (name === zoneName) return `it is the zone apex ${zoneName}, which cannot be a CNAME`;
      if (!name.endsWith(`.${zoneName}`)) return `the name is not inside the zone ${zoneName}`;
      const sets = await deps.dns.recordSets(route53.hostedZoneId, name);
      for (const r of sets) {
        if (r.setIdentifier !== null) return `it has a ${r.type} record with routing policy (SetIdentifier ${r.setIdentifier}); pgdr only replaces a simple CNAME`;
        if (r.type !== 'CNAME') {
          return `it is ${r.alias ? `an alias ${r.type}` : `a${/^[AEIOU]/.test(r.type) ? 'n' : ''} ${r.type}`} record, which cannot be replaced by a CNAME (a CNAME cannot coexist with other records): point it at a CNAME first or remove route53 from the cutover`;
        }
        if (r.alias) return 'it is an alias CNAME, which pgdr does not replace';
      }
      return undefined;
    });
  }
  if (plan.cutover.healthCheck) {
    const url = plan.cutover.healthCheck.url;
    targets.push(`health check ${redactSecrets(url)}`);
    if (!/^https:\/\//i.test(url)) problems.push(`health check ${redactSecrets(url)}: not an https:// URL`);
  }
  if (problems.length > 0) throw new CutoverTargetInvalid(problems);
  (deps.log ?? silentLog).info('cutover targets checked', { targets });
  return { ok: true, targets };
}

// ---------------------------------------------------------------- apply

type Applied = {
  secret: CutoverResult['secret'];
  ssm: CutoverResult['ssm'];
  route53: CutoverResult['route53'];
};

async function applySecret(deps: CutoverDeps, plan: RecoveryPlan, secretId: string, instance: { identifier: string; host: string; port: number }): Promise<NonNullable<CutoverResult['secret']>> {
  const token = secretRequestToken(plan.execution.name, secretId);
  const current = await deps.secrets.current(secretId);
  if (!current) throw new Error('the secret does not exist');
  if (current.versionId === token) {
    // A retry: the version of this execution is already current; AWSPREVIOUS is the one before it.
    return { arn: secretId, versionId: token, previousVersionId: current.previousVersionId };
  }
  const versionId = await deps.secrets.put(secretId, switchedSecretValue(current.value, instance), token);
  return { arn: secretId, versionId, previousVersionId: current.versionId };
}

async function applyParameter(deps: CutoverDeps, name: string, instance: { host: string; port: number }): Promise<NonNullable<CutoverResult['ssm']>> {
  const current = await deps.parameters.get(name);
  if (!current) throw new Error('the parameter does not exist');
  const next = switchedParameterValue(current.value, instance.host, instance.port);
  if (current.value === next) {
    // The new instance's host is unique to this execution: the value is this execution's own write
    // (a retry). The value before it is the version before.
    const before = current.version > 1 ? await deps.parameters.get(name, current.version - 1) : undefined;
    return { name, version: current.version, previousValue: before ? keepableParameterValue(before) : null };
  }
  const version = await deps.parameters.put(name, next);
  return { name, version, previousValue: keepableParameterValue(current) };
}

async function applyDns(deps: CutoverDeps, route53: NonNullable<RecoveryPlan['cutover']['route53']>, host: string, log: LogPort): Promise<NonNullable<CutoverResult['route53']>> {
  const name = fqdn(route53.recordName);
  const target = fqdn(host);
  const sets = await deps.dns.recordSets(route53.hostedZoneId, name);
  const existing = sets.find((r) => r.type === 'CNAME' && !r.alias && r.setIdentifier === null);
  const other = sets.find((r) => r !== existing);
  if (other) throw new Error(`${name} has a ${other.type} record${other.alias ? ' (alias)' : ''}, which cannot be replaced by a CNAME`);
  const previous = existing ? { type: existing.type, ttl: existing.ttl ?? route53.ttlSeconds, values: existing.values } : null;
  if (existing && existing.values.length === 1 && fqdn(existing.values[0]) === target) {
    // Already this execution's record (a retry): Route 53 keeps no history, the record before it is
    // unknown here. Rolling back then leaves this record (never deletes the application's name).
    log.warn('route53 record already points at the new instance; the previous record is unknown to this attempt', { record: name });
    return { hostedZoneId: route53.hostedZoneId, recordName: name, previous };
  }
  await deps.dns.change(route53.hostedZoneId, 'UPSERT', { name, type: 'CNAME', ttl: route53.ttlSeconds, values: [target] });
  return { hostedZoneId: route53.hostedZoneId, recordName: name, previous };
}

export async function applyCutover(deps: CutoverDeps, plan: RecoveryPlan, instanceState: InstanceState): Promise<CutoverResult> {
  const log = deps.log ?? silentLog;
  const instance = requireInstance(instanceState);
  if (plan.mode !== 'failover') throw new CutoverFailed(`a ${plan.mode} never cuts over (plan.mode is ${JSON.stringify(plan.mode)}); nothing was switched`);
  const { secretArn, ssmParameterName, route53 } = plan.cutover;
  const applied: Applied = { secret: null, ssm: null, route53: null };
  let step = '';
  try {
    if (secretArn) {
      step = `secret ${secretArn}`;
      applied.secret = await applySecret(deps, plan, secretArn, instance);
    }
    if (ssmParameterName) {
      step = `SSM parameter ${ssmParameterName}`;
      applied.ssm = await applyParameter(deps, ssmParameterName, instance);
    }
    if (route53) {
      step = `Route 53 record ${fqdn(route53.recordName)} in hosted zone ${route53.hostedZoneId}`;
      applied.route53 = await applyDns(deps, route53, instance.host, log);
    }
  } catch (err) {
    const cause = errorText(err);
    const partial = resultOf(deps, plan, applied);
    const { undone, failed } = await undo(deps, partial, instance.identifier);
    log.error('cutover failed; switched targets rolled back', { step, error: cause, undone, rollbackFailures: failed });
    const rolledBack = undone.length > 0 ? ` Rolled back: ${undone.join('; ')}.` : ' Nothing had been switched.';
    const leftover = failed.length > 0 ? ` ROLLBACK FAILED, fix by hand: ${failed.join('; ')}.` : '';
    throw new CutoverFailed(`cutover of ${step} to ${instance.host}:${instance.port} failed: ${cause}.${rolledBack}${leftover}`);
  }
  const result = resultOf(deps, plan, applied);
  log.info('cutover applied', { instance: instance.identifier, host: instance.host, secret: !!result.secret, ssm: !!result.ssm, route53: !!result.route53 });
  return result;
}

function resultOf(deps: CutoverDeps, plan: RecoveryPlan, applied: Applied): CutoverResult {
  const now = deps.clock.now();
  return { at: now.toISOString(), secondsSinceStart: seconds(new Date(plan.execution.startTime), now), ...applied };
}

// ---------------------------------------------------------------- rollback

/**
 * Undoes what `applied` lists, last switched first; never throws. A target changed by someone else
 * after the cutover is not overwritten: that is reported as a failure for a human to decide.
 * `newInstance` is the new instance's identifier (the first label of its endpoint).
 */
async function undo(deps: CutoverDeps, applied: CutoverResult, newInstance: string): Promise<{ undone: string[]; failed: string[] }> {
  const undone: string[] = [];
  const failed: string[] = [];
  const step = async (what: string, fn: () => Promise<string>) => {
    try {
      undone.push(`${what}: ${await fn()}`);
    } catch (err) {
      failed.push(`${what}: ${errorText(err)}`);
    }
  };
  const pointsAtNew = (values: string[]) => values.length === 1 && fqdn(values[0]).startsWith(`${newInstance.toLowerCase()}.`);
  if (applied.route53) {
    const r = applied.route53;
    await step(`Route 53 record ${r.recordName}`, async () => {
      const current = (await deps.dns.recordSets(r.hostedZoneId, r.recordName)).find((x) => x.type === 'CNAME' && !x.alias && x.setIdentifier === null);
      if (r.previous) {
        if (pointsAtNew(r.previous.values)) {
          throw new Error(`the record before the cutover is unknown (a retried apply found its own CNAME): it still points at ${r.previous.values.join(', ')}; restore it by hand`);
        }
        const same = current && current.type === r.previous.type && current.values.map(fqdn).join() === r.previous.values.map(fqdn).join();
        if (same) return `already ${r.previous.type} ${r.previous.values.join(', ')}`;
        if (current && !pointsAtNew(current.values)) throw new Error(`changed after the cutover (now CNAME ${current.values.join(', ')}): not overwritten`);
        await deps.dns.change(r.hostedZoneId, 'UPSERT', { name: r.recordName, type: r.previous.type, ttl: r.previous.ttl, values: r.previous.values });
        return `restored ${r.previous.type} ${r.previous.values.join(', ')}`;
      }
      if (!current) return 'already absent';
      if (!pointsAtNew(current.values)) throw new Error(`changed after the cutover (now CNAME ${current.values.join(', ')}): not deleted`);
      await deps.dns.change(r.hostedZoneId, 'DELETE', { name: r.recordName, type: 'CNAME', ttl: current.ttl ?? 0, values: current.values });
      return 'deleted the CNAME the cutover created';
    });
  }
  if (applied.ssm) {
    const s = applied.ssm;
    await step(`SSM parameter ${s.name}`, async () => {
      const current = await deps.parameters.get(s.name);
      if (s.previousValue === null && s.version <= 1) {
        if (!current) return 'already absent';
        if (current.version !== s.version) throw new Error(`changed after the cutover (now version ${current.version}): not deleted`);
        await deps.parameters.delete(s.name);
        return 'deleted (the cutover created it)';
      }
      let previous = s.previousValue;
      if (previous === null) {
        const before = await deps.parameters.get(s.name, s.version - 1);
        if (!before) throw new Error(`version ${s.version - 1} of the parameter is gone`);
        previous = before.value;
      }
      if (!current) throw new Error('the parameter was deleted after the cutover: not recreated');
      if (current.value === previous) return 'already the previous value';
      if (current.version !== s.version) throw new Error(`changed after the cutover (now version ${current.version}, the cutover wrote ${s.version}): not overwritten`);
      await deps.parameters.put(s.name, previous);
      return s.previousValue === null ? `value of version ${s.version - 1} restored` : 'previous value restored';
    });
  }
  if (applied.secret) {
    const s = applied.secret;
    await step(`secret ${s.arn}`, async () => {
      if (!s.previousVersionId) throw new Error('no previous version is known: the secret cannot be moved back');
      const current = await deps.secrets.current(s.arn);
      if (!current) throw new Error('the secret was deleted after the cutover');
      if (current.versionId === s.previousVersionId) return 'AWSCURRENT already on the previous version';
      if (current.versionId !== s.versionId) throw new Error(`AWSCURRENT moved to version ${current.versionId} after the cutover: not moved back`);
      await deps.secrets.moveCurrent(s.arn, s.previousVersionId, s.versionId);
      return `AWSCURRENT moved back to version ${s.previousVersionId}`;
    });
  }
  return { undone, failed };
}

export async function rollbackCutover(deps: CutoverDeps, plan: RecoveryPlan, applied: CutoverResult): Promise<RollbackResult> {
  if (!applied || typeof applied !== 'object') throw new InvalidCutoverEvent('rollback needs "applied" (the CutoverResult of apply)');
  const { undone, failed } = await undo(deps, applied, plan.instanceIdentifier);
  const log = deps.log ?? silentLog;
  if (failed.length > 0) {
    log.error('cutover rollback incomplete', { undone, failed });
    throw new RollbackFailed(`rollback of the cutover is incomplete, fix by hand: ${failed.join('; ')}${undone.length ? ` (undone: ${undone.join('; ')})` : ''}`);
  }
  log.info('cutover rolled back', { undone });
  return { at: deps.clock.now().toISOString(), undone };
}

// ---------------------------------------------------------------- health

export async function healthCheck(deps: CutoverDeps, plan: RecoveryPlan): Promise<HealthResult> {
  const started = deps.clock.now();
  const config = plan.cutover.healthCheck;
  if (!config) return { ok: true, url: null, status: null, attempts: 0, seconds: 0, at: started.toISOString() };
  const shownUrl = redactSecrets(config.url);
  const interval = deps.probeIntervalMs ?? 5000;
  const probeTimeout = deps.probeTimeoutMs ?? 10000;
  const deadline = started.getTime() + config.timeoutSeconds * 1000;
  let attempts = 0;
  let last = 'no probe ran';
  for (;;) {
    attempts += 1;
    try {
      // Each probe has its own limit: the last one (at the deadline) may end up to that much later.
      const status = await deps.probe.get(config.url, probeTimeout);
      if (status >= 200 && status < 300) {
        const now = deps.clock.now();
        (deps.log ?? silentLog).info('health check passed', { url: shownUrl, status, attempts });
        return { ok: true, url: shownUrl, status, attempts, seconds: seconds(started, now), at: now.toISOString() };
      }
      last = `HTTP ${status}`;
    } catch (err) {
      last = errorText(err);
    }
    const left = deadline - deps.clock.now().getTime();
    if (left <= 0) break;
    // The last sleep ends at the deadline: one more probe then.
    await deps.sleep(Math.min(interval, left));
  }
  throw new HealthCheckFailed(`health check ${shownUrl} got no 2xx within ${config.timeoutSeconds} s (${attempts} attempts; last: ${last})`);
}

// ---------------------------------------------------------------- dispatch

export async function runCutover(deps: CutoverDeps, event: CutoverEvent): Promise<CutoverActionResult> {
  if (!event || typeof event !== 'object') throw new InvalidCutoverEvent('expected {"action": "check" | "apply" | "rollback" | "health", "plan", ...}');
  const plan = requirePlan(event.plan);
  switch (event.action) {
    case 'check':
      return checkTargets(deps, plan);
    case 'apply':
      return applyCutover(deps, plan, event.instance);
    case 'rollback':
      return rollbackCutover(deps, plan, event.applied);
    case 'health':
      return healthCheck(deps, plan);
    default:
      throw new InvalidCutoverEvent(`unknown action ${JSON.stringify((event as { action?: unknown }).action)}: expected check, apply, rollback or health`);
  }
}
