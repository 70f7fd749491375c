/**
 * In-memory stand-ins for three AWS control-plane APIs the cutover switches, with their semantics
 * (not databases): Secrets Manager versions and staging labels (AWSCURRENT / AWSPREVIOUS,
 * ClientRequestToken idempotency), SSM parameter versions, Route 53 record sets. They implement the
 * cutover ports directly, count every mutating call (`changes`), and can be told to fail a call
 * (`failNext`) for fault injection.
 */
import type { DnsRecord, DnsTarget, ParameterTarget, ParameterValue, SecretTarget, SecretVersion } from '../lambda/failover/cutover/core';

function awsError(name: string, message: string): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}

/** Makes the next call of `method` fail with `error` (once). */
class Faults {
  private readonly pending = new Map<string, Error>();
  failNext(method: string, error: Error = awsError('InternalServiceError', `injected failure of ${method}`)): void {
    this.pending.set(method, error);
  }
  protected maybeFail(method: string): void {
    const err = this.pending.get(method);
    if (err) {
      this.pending.delete(method);
      throw err;
    }
  }
}

interface StoredSecretVersion {
  value: string;
  stages: Set<string>;
}

export class MemorySecrets extends Faults implements SecretTarget {
  /** secret id → version id → version */
  readonly secrets = new Map<string, Map<string, StoredSecretVersion>>();
  /** PutSecretValue / UpdateSecretVersionStage calls that changed something. */
  changes = 0;
  private counter = 0;

  create(secretId: string, value: string): string {
    const versionId = `initial-${++this.counter}`;
    this.secrets.set(secretId, new Map([[versionId, { value, stages: new Set(['AWSCURRENT']) }]]));
    return versionId;
  }

  /** The version carrying `stage`. */
  versionWith(secretId: string, stage: string): string | undefined {
    for (const [id, v] of this.secrets.get(secretId) ?? []) if (v.stages.has(stage)) return id;
    return undefined;
  }

  valueOf(secretId: string, stage = 'AWSCURRENT'): string | undefined {
    const id = this.versionWith(secretId, stage);
    return id ? this.secrets.get(secretId)!.get(id)!.value : undefined;
  }

  private versions(secretId: string): Map<string, StoredSecretVersion> {
    const versions = this.secrets.get(secretId);
    if (!versions) throw awsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return versions;
  }

  async current(secretId: string): Promise<SecretVersion | undefined> {
    this.maybeFail('current');
    if (!this.secrets.has(secretId)) return undefined;
    const versionId = this.versionWith(secretId, 'AWSCURRENT')!;
    return { versionId, value: this.valueOf(secretId)!, previousVersionId: this.versionWith(secretId, 'AWSPREVIOUS') ?? null };
  }

  async put(secretId: string, value: string, clientRequestToken: string): Promise<string> {
    this.maybeFail('put');
    const versions = this.versions(secretId);
    if (clientRequestToken.length < 32 || clientRequestToken.length > 64) throw awsError('ValidationException', 'ClientRequestToken must be 32-64 characters');
    const existing = versions.get(clientRequestToken);
    if (existing) {
      // Same token: idempotent when the value is the same, an error otherwise. Stages do not move.
      if (existing.value !== value) throw awsError('ResourceExistsException', 'A resource with the ID you requested already exists.');
      return clientRequestToken;
    }
    this.moveStage(versions, clientRequestToken, { value, stages: new Set() });
    return clientRequestToken;
  }

  async moveCurrent(secretId: string, toVersionId: string, fromVersionId: string): Promise<void> {
    this.maybeFail('moveCurrent');
    const versions = this.versions(secretId);
    const target = versions.get(toVersionId);
    if (!target) throw awsError('ResourceNotFoundException', `no version ${toVersionId}`);
    if (this.versionWith(secretId, 'AWSCURRENT') !== fromVersionId) throw awsError('InvalidParameterException', `AWSCURRENT is not on ${fromVersionId}`);
    this.moveStage(versions, toVersionId, target);
  }

  /** AWSCURRENT to `versionId`; the old current gets AWSPREVIOUS (as Secrets Manager does). */
  private moveStage(versions: Map<string, StoredSecretVersion>, versionId: string, version: StoredSecretVersion): void {
    for (const v of versions.values()) v.stages.delete('AWSPREVIOUS');
    for (const v of versions.values()) {
      if (v.stages.delete('AWSCURRENT')) v.stages.add('AWSPREVIOUS');
    }
    version.stages.delete('AWSPREVIOUS');
    version.stages.add('AWSCURRENT');
    versions.set(versionId, version);
    this.changes += 1;
  }
}

export class MemoryParameters extends Faults implements ParameterTarget {
  /** name → versions (index 0 is version 1) */
  readonly parameters = new Map<string, { type: string; values: string[] }>();
  changes = 0;

  create(name: string, value: string, type = 'String'): void {
    this.parameters.set(name, { type, values: [value] });
  }

  valueOf(name: string): string | undefined {
    const p = this.parameters.get(name);
    return p ? p.values[p.values.length - 1] : undefined;
  }

  async get(name: string, version?: number): Promise<ParameterValue | undefined> {
    this.maybeFail('get');
    const p = this.parameters.get(name);
    if (!p) return undefined;
    const v = version ?? p.values.length;
    if (v < 1 || v > p.values.length) return undefined;
    return { value: p.values[v - 1], version: v, type: p.type };
  }

  async put(name: string, value: string): Promise<number> {
    this.maybeFail('put');
    const p = this.parameters.get(name);
    this.changes += 1;
    if (!p) {
      this.parameters.set(name, { type: 'String', values: [value] });
      return 1;
    }
    p.values.push(value);
    return p.values.length;
  }

  async delete(name: string): Promise<void> {
    this.maybeFail('delete');
    if (!this.parameters.delete(name)) throw awsError('ParameterNotFound', name);
    this.changes += 1;
  }
}

export class MemoryRoute53 extends Faults implements DnsTarget {
  readonly zones = new Map<string, { name: string; records: DnsRecord[] }>();
  changes = 0;

  createZone(id: string, name: string): void {
    this.zones.set(id, { name: name.endsWith('.') ? name : `${name}.`, records: [] });
  }

  addRecord(zoneId: string, record: Partial<DnsRecord> & { name: string; type: string }): void {
    this.zones.get(zoneId)!.records.push({ ttl: 300, values: [], alias: false, setIdentifier: null, ...record });
  }

  records(zoneId: string, name: string): DnsRecord[] {
    return this.zones.get(zoneId)!.records.filter((r) => r.name === name);
  }

  async zoneName(hostedZoneId: string): Promise<string | undefined> {
    this.maybeFail('zoneName');
    return this.zones.get(hostedZoneId)?.name;
  }

  async recordSets(hostedZoneId: string, name: string): Promise<DnsRecord[]> {
    this.maybeFail('recordSets');
    const zone = this.zones.get(hostedZoneId);
    if (!zone) throw awsError('NoSuchHostedZone', hostedZoneId);
    return zone.records.filter((r) => r.name === name).map((r) => ({ ...r, values: [...r.values] }));
  }

  async change(hostedZoneId: string, action: 'UPSERT' | 'DELETE', record: { name: string; type: string; ttl: number; values: string[] }): Promise<void> {
    this.maybeFail('change');
    const zone = this.zones.get(hostedZoneId);
    if (!zone) throw awsError('NoSuchHostedZone', hostedZoneId);
    if (!record.name.endsWith(`.${zone.name}`) && record.name !== zone.name) throw awsError('InvalidChangeBatch', `${record.name} is not in ${zone.name}`);
    const index = zone.records.findIndex((r) => r.name === record.name && r.type === record.type && r.setIdentifier === null);
    if (action === 'DELETE') {
      const existing = zone.records[index];
      // DELETE must match the record exactly.
      if (!existing || existing.ttl !== record.ttl || existing.values.join() !== record.values.join()) {
        throw awsError('InvalidChangeBatch', `Tried to delete resource record set [name='${record.name}', type='${record.type}'] but it was not found`);
      }
      zone.records.splice(index, 1);
    } else {
      if (record.type === 'CNAME' && zone.records.some((r) => r.name === record.name && r.type !== 'CNAME')) {
        throw awsError('InvalidChangeBatch', `RRSet of type CNAME with DNS name ${record.name} is not permitted as it conflicts with other records with the same DNS name`);
      }
      const next: DnsRecord = { name: record.name, type: record.type, ttl: record.ttl, values: [...record.values], alias: false, setIdentifier: null };
      if (index >= 0) zone.records[index] = next;
      else zone.records.push(next);
    }
    this.changes += 1;
  }
}
