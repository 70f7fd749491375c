/**
 * A local RDS simulator for tests: an HTTP server on 127.0.0.1 that speaks enough of the RDS Query
 * API (`Action=…&Version=2014-10-31`, form-encoded POST, XML answers and errors) for the real
 * `@aws-sdk/client-rds` client created with `endpoint: sim.endpoint` (see `sim.client()`).
 *
 * - Strict: a request that carries a parameter the RDS API does not know for its action, lacks a
 *   required one, or names an invalid identifier is rejected (rds/params.ts), so a misspelled key
 *   fails the test that sends it. A known parameter whose effect is not modelled is rejected as
 *   "not simulated" on DescribeDBInstances (Filters), DescribeDBSnapshots and ModifyDBInstance
 *   (all but DeletionProtection, MultiAZ, DBInstanceClass, ApplyImmediately); on Create/Restore the
 *   placement, network and tuning parameters are accepted and have no local effect. Every accepted
 *   or rejected call is in `sim.calls`. `sim.sdkTask()` runs a Step Functions RDS Task the same way.
 * - Lifecycle without wall time: new instances go creating → backing-up → available, one step per
 *   `DescribeDBInstances` that returns them (after the answer) or per `sim.advance()`; a fate set
 *   with `sim.setFate(id, …)` ends the path in that failure state instead. `sim.failNext(action,
 *   code)` makes the next call of an action fail with that RDS error.
 * - Real PostgreSQL: the source instances are PgClusters the test registers (`registerSource`);
 *   `RestoreDBInstanceToPointInTime` and `RestoreDBInstanceFromDBSnapshot` copy the source cluster
 *   with pg_basebackup (the copy holds the source's data as at the restore call: the restore time
 *   is checked against the restorable window, not replayed); `CreateDBInstance` starts an empty
 *   cluster with the requested master user. Endpoint = 127.0.0.1 and the cluster's port.
 *   `ManageMasterUserPassword` generates the password; `sim.masterSecret(arn)` returns it.
 * - `DeleteDBInstance` stops and removes the cluster the simulator started (by PID); `stop()`
 *   stops the server and every cluster it started (never the registered sources).
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { RDSClient } from '@aws-sdk/client-rds';
import { PgCluster } from './pg-cluster';
import { Action, ACTIONS, checkParameterNames, identifierError, parseBool, RequestError, tagsOf } from './rds/params';
import { errorXml, resultXml, XmlList, XmlValue } from './rds/xml';
import { runRdsTask } from './rds/sdk-task';

/** A failure state an instance can end in instead of `available`. */
export type Fate = 'failed' | 'incompatible-restore' | 'storage-full';

/** One request the simulator received: its action and form parameters (passwords redacted), and the error code if rejected. */
export interface SimCall {
  readonly action: string;
  readonly params: Readonly<Record<string, string>>;
  readonly error?: string;
}

export interface RegisterSourceOptions {
  /** The master user name (a role the caller created on the cluster). @default the cluster's superuser */
  readonly masterUsername?: string;
  /** @default true (a production source) */
  readonly deletionProtection?: boolean;
  /** @default true */
  readonly storageEncrypted?: boolean;
  /** @default false */
  readonly multiAZ?: boolean;
  /** @default 'db.t4g.micro' */
  readonly instanceClass?: string;
  /** Start of the restorable window. @default now() minus 1 day */
  readonly earliestRestorableTime?: Date;
  readonly tags?: readonly { Key: string; Value: string }[];
}

interface Instance {
  readonly id: string;
  status: string;
  /** The statuses still ahead, first next. */
  readonly path: string[];
  cluster?: PgCluster;
  /** Whether the simulator started the cluster (and so stops it). */
  readonly owned: boolean;
  readonly engineVersion: string;
  instanceClass: string;
  multiAZ: boolean;
  readonly storageEncrypted: boolean;
  deletionProtection: boolean;
  readonly tags: readonly { Key: string; Value: string }[];
  readonly masterUsername: string;
  readonly dbName?: string;
  readonly allocatedStorage: number;
  readonly secretArn?: string;
  readonly createTime: Date;
  readonly resourceId: string;
  earliestRestorableTime: Date;
  latestRestorableTime?: Date;
}

interface Snapshot {
  readonly id: string;
  readonly instanceId: string;
  readonly type: 'automated' | 'manual';
  readonly createTime: Date;
}

class SimError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const NOT_FOUND = new Set(['DBInstanceNotFound', 'DBSnapshotNotFound']);
/** Statuses in which DeleteDBInstance is refused (InvalidDBInstanceState). */
const BUSY = new Set(['creating', 'deleting', 'modifying']);

export interface RdsSimulatorOptions {
  /** The clock (restorable times, create times). @default () => new Date() */
  readonly now?: () => Date;
  /** Advance the instances a DescribeDBInstances returns by one step after answering. @default true */
  readonly advanceOnDescribe?: boolean;
  /** Where the clusters of new instances live. @default the system temp dir */
  readonly clusterDir?: string;
  /** Server binaries of new instances. @default PG_BIN (local/pg-cluster.ts) */
  readonly pgBin?: string;
}

export class RdsSimulator {
  /** Starts the simulator on a free 127.0.0.1 port. */
  static async start(options: RdsSimulatorOptions = {}): Promise<RdsSimulator> {
    const sim = new RdsSimulator(options);
    await new Promise<void>((resolve, reject) => {
      sim.server.once('error', reject);
      sim.server.listen(0, '127.0.0.1', () => resolve());
    });
    return sim;
  }

  /** Every request received, in order. */
  readonly calls: SimCall[] = [];
  private readonly server: Server;
  private readonly instances = new Map<string, Instance>();
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly fates = new Map<string, Fate>();
  private readonly failures = new Map<string, { code: string; message: string }[]>();
  private readonly secrets = new Map<string, { username: string; password: string }>();
  private readonly started: PgCluster[] = [];
  /** Identifiers whose instance is being created (their cluster is starting). */
  private readonly reserved = new Set<string>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly now: () => Date;
  private readonly advanceOnDescribe: boolean;
  private taskClient?: RDSClient;

  private constructor(private readonly options: RdsSimulatorOptions) {
    this.now = options.now ?? (() => new Date());
    this.advanceOnDescribe = options.advanceOnDescribe ?? true;
    this.server = createServer((req, res) => {
      const work = this.handle(req, res);
      this.pending.add(work);
      void work.finally(() => this.pending.delete(work));
    });
  }

  /** `http://127.0.0.1:<port>`. */
  get endpoint(): string {
    const address = this.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    return `http://127.0.0.1:${port}`;
  }

  /** A real SDK client pointed at the simulator (fake credentials, us-east-1, no retries). */
  client(): RDSClient {
    return new RDSClient({ endpoint: this.endpoint, region: REGION, credentials: { accessKeyId: 'AKIDSIMULATOR', secretAccessKey: 'simulator' }, maxAttempts: 1 });
  }

  /**
   * Runs a Step Functions RDS SDK-integration Task (resource ARN or action name, and its
   * `Parameters`) through the real SDK client after checking the keys strictly (rds/sdk-task.ts):
   * the route for a local state machine interpreter's RDS Tasks.
   */
  sdkTask(resource: string, parameters: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.taskClient ??= this.client();
    return runRdsTask(this.taskClient, resource, parameters);
  }

  /** Registers a running cluster as an available RDS instance (a restore source; never stopped by the simulator). */
  async registerSource(id: string, cluster: PgCluster, options: RegisterSourceOptions = {}): Promise<void> {
    const bad = identifierError('DBInstanceIdentifier', id);
    if (bad) throw new Error(bad.message);
    const now = this.now();
    this.instances.set(id, {
      id,
      status: 'available',
      path: [],
      cluster,
      owned: false,
      engineVersion: await serverVersion(cluster),
      instanceClass: options.instanceClass ?? 'db.t4g.micro',
      multiAZ: options.multiAZ ?? false,
      storageEncrypted: options.storageEncrypted ?? true,
      deletionProtection: options.deletionProtection ?? true,
      tags: options.tags ?? [],
      masterUsername: options.masterUsername ?? cluster.user,
      allocatedStorage: 20,
      createTime: new Date(now.getTime() - 30 * 86_400_000),
      resourceId: resourceId(),
      earliestRestorableTime: options.earliestRestorableTime ?? new Date(now.getTime() - 86_400_000),
    });
  }

  /** Records a snapshot of an instance (its data is copied from the instance's cluster when restored). */
  addSnapshot(instanceId: string, snapshotId: string, type: 'automated' | 'manual' = 'manual', createTime = this.now()): void {
    if (!this.instances.has(instanceId)) throw new Error(`addSnapshot: no instance ${instanceId}`);
    this.snapshots.set(snapshotId, { id: snapshotId, instanceId, type, createTime });
  }

  /** Moves one instance (or every instance) one step along its status path. */
  advance(id?: string): void {
    for (const instance of id === undefined ? [...this.instances.values()] : [this.instances.get(id)].filter((i): i is Instance => i !== undefined)) {
      const next = instance.path.shift();
      if (next === 'gone') this.instances.delete(instance.id);
      else if (next !== undefined) instance.status = next;
    }
  }

  /** The current status of an instance, or undefined when there is none. */
  status(id: string): string | undefined {
    return this.instances.get(id)?.status;
  }

  /** The identifiers of the instances that exist (sources included). */
  instanceIds(): string[] {
    return [...this.instances.keys()].sort();
  }

  /** The PIDs of the clusters the simulator started and has not stopped yet. */
  clusterPids(): number[] {
    return this.started.map((c) => c.pid).filter((pid): pid is number => pid !== undefined);
  }

  /** Makes the next call of `action` fail with the RDS error `code`. */
  failNext(action: Action, code: string, message = `simulated ${code}`): void {
    const queue = this.failures.get(action) ?? [];
    queue.push({ code, message });
    this.failures.set(action, queue);
  }

  /** Makes the instance created next with this identifier end in `fate` instead of `available`. */
  setFate(id: string, fate: Fate): void {
    this.fates.set(id, fate);
  }

  /** Overrides an instance's LatestRestorableTime (e.g. a stale source for a freshness check). */
  setLatestRestorableTime(id: string, time: Date): void {
    const instance = this.instances.get(id);
    if (!instance) throw new Error(`setLatestRestorableTime: no instance ${id}`);
    instance.latestRestorableTime = time;
  }

  /** The managed master user secret behind a MasterUserSecret.SecretArn (the tests' Secrets Manager). */
  masterSecret(arn: string): { username: string; password: string } {
    const secret = this.secrets.get(arn);
    if (!secret) throw new Error(`masterSecret: no secret ${arn}`);
    return { ...secret };
  }

  /** Stops the server and every cluster the simulator started (by PID), waiting for requests in flight. */
  async stop(): Promise<void> {
    this.taskClient?.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    await Promise.allSettled([...this.pending]);
    const errors: unknown[] = [];
    for (const cluster of this.started.splice(0)) {
      try {
        await cluster.stop();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw errors[0];
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let action = '';
    let params: Record<string, string> = {};
    try {
      const body = await readBody(req);
      const form = new URLSearchParams(body);
      action = form.get('Action') ?? '';
      params = Object.fromEntries([...form.entries()].filter(([k]) => k !== 'Action' && k !== 'Version'));
      if (req.method !== 'POST') throw new SimError('InvalidAction', `only POST is simulated, got ${req.method}`);
      if (!(ACTIONS as readonly string[]).includes(action)) throw new SimError('InvalidAction', `action ${JSON.stringify(action)} is not simulated`);
      if (form.get('Version') !== '2014-10-31') throw new SimError('InvalidParameterValue', `Version must be 2014-10-31, got ${JSON.stringify(form.get('Version'))}`);
      const rejected = checkParameterNames(action as Action, Object.keys(params));
      if (rejected) throw new SimError(rejected.code, rejected.message);
      const injected = this.failures.get(action)?.shift();
      if (injected) throw new SimError(injected.code, injected.message);
      const result = await this.dispatch(action as Action, new Map(Object.entries(params)));
      this.calls.push({ action, params: redact(params) });
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(resultXml(action, result));
    } catch (err) {
      const code = err instanceof SimError ? err.code : 'InternalFailure';
      const message = err instanceof Error ? err.message : String(err);
      this.calls.push({ action, params: redact(params), error: code });
      res.writeHead(NOT_FOUND.has(code) ? 404 : code === 'InternalFailure' ? 500 : 400, { 'content-type': 'text/xml' });
      res.end(errorXml(code, message, code === 'InternalFailure' ? 'Receiver' : 'Sender'));
    }
  }

  private async dispatch(action: Action, form: Map<string, string>): Promise<Record<string, XmlValue>> {
    switch (action) {
      case 'DescribeDBInstances': return this.describeInstances(form);
      case 'CreateDBInstance': return { DBInstance: instanceXml(await this.reserving(form, 'DBInstanceIdentifier', () => this.create(form)), this.now()) };
      case 'RestoreDBInstanceToPointInTime': return { DBInstance: instanceXml(await this.reserving(form, 'TargetDBInstanceIdentifier', () => this.restorePointInTime(form)), this.now()) };
      case 'RestoreDBInstanceFromDBSnapshot': return { DBInstance: instanceXml(await this.reserving(form, 'DBInstanceIdentifier', () => this.restoreSnapshot(form)), this.now()) };
      case 'DescribeDBSnapshots': return this.describeSnapshots(form);
      case 'DeleteDBInstance': return { DBInstance: instanceXml(await this.delete(form), this.now()) };
      case 'ModifyDBInstance': return { DBInstance: instanceXml(this.modify(form), this.now()) };
    }
  }

  private describeInstances(form: Map<string, string>): Record<string, XmlValue> {
    notSimulated('DescribeDBInstances', form, ['Filters']);
    const id = form.get('DBInstanceIdentifier');
    const found = id === undefined ? [...this.instances.values()] : [this.existing(id)];
    const result = { DBInstances: new XmlList('DBInstance', found.map((i) => instanceXml(i, this.now()))) };
    if (this.advanceOnDescribe) for (const instance of found) this.advance(instance.id);
    return result;
  }

  private describeSnapshots(form: Map<string, string>): Record<string, XmlValue> {
    notSimulated('DescribeDBSnapshots', form, ['Filters', 'DbiResourceId', 'IncludeShared', 'IncludePublic']);
    const snapshotId = form.get('DBSnapshotIdentifier');
    const instanceId = form.get('DBInstanceIdentifier');
    const type = form.get('SnapshotType');
    if (snapshotId !== undefined && !this.snapshots.has(snapshotId)) throw new SimError('DBSnapshotNotFound', `DBSnapshot ${snapshotId} not found.`);
    const found = [...this.snapshots.values()].filter(
      (s) => (snapshotId === undefined || s.id === snapshotId) && (instanceId === undefined || s.instanceId === instanceId) && (type === undefined || s.type === type),
    );
    return { DBSnapshots: new XmlList('DBSnapshot', found.map((s) => this.snapshotXml(s))) };
  }

  private async create(form: Map<string, string>): Promise<Instance> {
    const id = this.identifier(form, 'DBInstanceIdentifier');
    const engine = form.get('Engine');
    if (engine !== 'postgres') throw new SimError('InvalidParameterValue', `Engine ${JSON.stringify(engine)} is not simulated (only postgres)`);
    const masterUsername = form.get('MasterUsername');
    if (masterUsername === undefined) throw new SimError('InvalidParameterValue', 'MasterUsername is required for the postgres engine');
    if (!/^[A-Za-z][A-Za-z0-9_]{0,62}$/.test(masterUsername)) throw new SimError('InvalidParameterValue', 'MasterUsername must be 1-63 letters, digits or underscores, first a letter');
    const allocated = Number(form.get('AllocatedStorage'));
    if (!Number.isInteger(allocated) || allocated < 20) throw new SimError('InvalidParameterValue', 'AllocatedStorage (GiB, at least 20) is required for the postgres engine');
    const managed = this.bool(form, 'ManageMasterUserPassword') ?? false;
    const given = form.get('MasterUserPassword');
    if (managed === (given !== undefined)) throw new SimError('InvalidParameterCombination', 'give exactly one of MasterUserPassword and ManageMasterUserPassword=true');
    if (given !== undefined) checkPassword(given);
    const password = given ?? generatedPassword();
    const dbName = form.get('DBName');
    if (dbName !== undefined && !/^[A-Za-z][A-Za-z0-9_]{0,62}$/.test(dbName)) throw new SimError('InvalidParameterValue', 'DBName must be 1-63 letters, digits or underscores, first a letter');
    const cluster = await this.startCluster(id, () => PgCluster.start({ baseDir: this.options.clusterDir, pgBin: this.options.pgBin }));
    if (cluster) {
      if (masterUsername !== cluster.user) await cluster.sql('postgres', `CREATE ROLE ${quoteIdent(masterUsername)} LOGIN SUPERUSER`);
      await cluster.sql('postgres', `ALTER ROLE ${quoteIdent(masterUsername)} PASSWORD ${quoteLiteral(password)}`);
      if (dbName !== undefined) await cluster.sql('postgres', `CREATE DATABASE ${quoteIdent(dbName)} OWNER ${quoteIdent(masterUsername)}`);
    }
    return this.addInstance(form, id, cluster, {
      engineVersion: cluster ? await serverVersion(cluster) : form.get('EngineVersion') ?? '16', masterUsername, password: managed ? password : undefined, dbName, allocatedStorage: allocated,
      storageEncrypted: this.bool(form, 'StorageEncrypted') ?? false, instanceClass: form.get('DBInstanceClass') ?? '',
    });
  }

  private async restorePointInTime(form: Map<string, string>): Promise<Instance> {
    const id = this.identifier(form, 'TargetDBInstanceIdentifier');
    if (form.has('SourceDbiResourceId') || form.has('SourceDBInstanceAutomatedBackupsArn')) {
      throw new SimError('InvalidParameterCombination', 'only SourceDBInstanceIdentifier is simulated as the restore source');
    }
    const sourceId = form.get('SourceDBInstanceIdentifier');
    if (sourceId === undefined) throw new SimError('InvalidParameterCombination', 'one of SourceDBInstanceIdentifier, SourceDbiResourceId or SourceDBInstanceAutomatedBackupsArn is required');
    const source = this.existing(sourceId);
    if (source.status !== 'available') throw new SimError('InvalidDBInstanceState', `DB instance ${sourceId} is not in available state (${source.status})`);
    const latest = this.bool(form, 'UseLatestRestorableTime') ?? false;
    const at = form.get('RestoreTime');
    if (latest && at !== undefined) throw new SimError('InvalidParameterCombination', 'RestoreTime cannot be given with UseLatestRestorableTime=true');
    if (!latest && at === undefined) throw new SimError('InvalidParameterCombination', 'give RestoreTime or UseLatestRestorableTime=true');
    if (at !== undefined) {
      const time = new Date(at);
      if (Number.isNaN(time.getTime())) throw new SimError('InvalidParameterValue', `RestoreTime ${JSON.stringify(at)} is not an ISO 8601 time`);
      const latestTime = source.latestRestorableTime ?? this.now();
      if (time < source.earliestRestorableTime || time > latestTime) {
        throw new SimError('InvalidRestoreFault', `RestoreTime ${time.toISOString()} is outside the restorable window ${source.earliestRestorableTime.toISOString()} .. ${latestTime.toISOString()}`);
      }
    }
    return this.restoreCopy(form, id, source);
  }

  private async restoreSnapshot(form: Map<string, string>): Promise<Instance> {
    const id = this.identifier(form, 'DBInstanceIdentifier');
    if (form.has('DBClusterSnapshotIdentifier')) throw new SimError('InvalidParameterCombination', 'DBClusterSnapshotIdentifier is not simulated');
    const snapshotId = form.get('DBSnapshotIdentifier');
    if (snapshotId === undefined) throw new SimError('InvalidParameterCombination', 'DBSnapshotIdentifier is required');
    const snapshot = this.snapshots.get(snapshotId);
    if (!snapshot) throw new SimError('DBSnapshotNotFound', `DBSnapshot ${snapshotId} not found.`);
    const source = this.instances.get(snapshot.instanceId);
    if (!source?.cluster) throw new SimError('InvalidDBSnapshotState', `snapshot ${snapshotId}: its instance ${snapshot.instanceId} is gone, so the simulator has no data to restore`);
    return this.restoreCopy(form, id, source);
  }

  /** A new instance whose cluster is a pg_basebackup copy of the source's. */
  private async restoreCopy(form: Map<string, string>, id: string, source: Instance): Promise<Instance> {
    const sourceCluster = source.cluster as PgCluster;
    const managed = this.bool(form, 'ManageMasterUserPassword') ?? false;
    const cluster = await this.startCluster(id, () => PgCluster.fromBaseBackup(sourceCluster, this.options.clusterDir));
    const password = managed ? generatedPassword() : undefined;
    if (cluster && password !== undefined) await cluster.sql('postgres', `ALTER ROLE ${quoteIdent(source.masterUsername)} PASSWORD ${quoteLiteral(password)}`);
    return this.addInstance(form, id, cluster, {
      engineVersion: source.engineVersion, masterUsername: source.masterUsername, password, allocatedStorage: source.allocatedStorage,
      storageEncrypted: source.storageEncrypted, instanceClass: form.get('DBInstanceClass') ?? source.instanceClass,
    });
  }

  private async delete(form: Map<string, string>): Promise<Instance> {
    const id = this.identifier(form, 'DBInstanceIdentifier');
    const skip = this.bool(form, 'SkipFinalSnapshot') ?? false;
    this.bool(form, 'DeleteAutomatedBackups');
    const finalId = form.get('FinalDBSnapshotIdentifier');
    if (skip && finalId !== undefined) throw new SimError('InvalidParameterCombination', 'FinalDBSnapshotIdentifier cannot be given with SkipFinalSnapshot=true');
    if (!skip) throw new SimError('InvalidParameterCombination', 'FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot=true (final snapshots are not simulated)');
    const instance = this.existing(id);
    if (instance.deletionProtection) throw new SimError('InvalidParameterCombination', 'Cannot delete protected DB Instance, please disable deletion protection and try again.');
    if (BUSY.has(instance.status)) throw new SimError('InvalidDBInstanceState', `DB instance ${instance.id} is not in a deletable state (${instance.status})`);
    const cluster = instance.cluster;
    if (cluster && instance.owned) {
      await cluster.stop();
      this.started.splice(this.started.indexOf(cluster), 1);
    }
    instance.cluster = undefined;
    instance.status = 'deleting';
    instance.path.splice(0, instance.path.length, 'gone');
    return instance;
  }

  private modify(form: Map<string, string>): Instance {
    const instance = this.existing(this.identifier(form, 'DBInstanceIdentifier'));
    if (instance.status === 'deleting') throw new SimError('InvalidDBInstanceState', `DB instance ${instance.id} is being deleted`);
    const modelled = ['DBInstanceIdentifier', 'DeletionProtection', 'ApplyImmediately', 'MultiAZ', 'DBInstanceClass'];
    notSimulated('ModifyDBInstance', form, [...form.keys()].map((k) => k.split('.')[0]).filter((k) => !modelled.includes(k)));
    instance.deletionProtection = this.bool(form, 'DeletionProtection') ?? instance.deletionProtection;
    instance.multiAZ = this.bool(form, 'MultiAZ') ?? instance.multiAZ;
    instance.instanceClass = form.get('DBInstanceClass') ?? instance.instanceClass;
    this.bool(form, 'ApplyImmediately');
    return instance;
  }

  private addInstance(
    form: Map<string, string>,
    id: string,
    cluster: PgCluster | undefined,
    fields: { engineVersion: string; masterUsername: string; password?: string; dbName?: string; allocatedStorage: number; storageEncrypted: boolean; instanceClass: string },
  ): Instance {
    let secretArn: string | undefined;
    if (fields.password !== undefined) {
      secretArn = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:rds!db-${randomUUID()}-${randomBytes(3).toString('hex')}`;
      this.secrets.set(secretArn, { username: fields.masterUsername, password: fields.password });
    }
    const fate = this.fates.get(id);
    this.fates.delete(id);
    const path = fate === undefined ? ['backing-up', 'available'] : fate === 'storage-full' ? ['backing-up', fate] : [fate];
    const now = this.now();
    const instance: Instance = {
      id, status: 'creating', path, cluster, owned: true, engineVersion: fields.engineVersion, instanceClass: fields.instanceClass,
      multiAZ: this.bool(form, 'MultiAZ') ?? false, storageEncrypted: fields.storageEncrypted, deletionProtection: this.bool(form, 'DeletionProtection') ?? false,
      tags: tagsOf(form), masterUsername: fields.masterUsername, dbName: fields.dbName, allocatedStorage: fields.allocatedStorage, secretArn,
      createTime: now, resourceId: resourceId(), earliestRestorableTime: now,
    };
    this.instances.set(id, instance);
    return instance;
  }

  /** Starts a cluster, remembering it for stop(); none for an instance fated to fail (it never gets an endpoint). */
  private async startCluster(id: string, start: () => Promise<PgCluster>): Promise<PgCluster | undefined> {
    const fate = this.fates.get(id);
    if (fate === 'failed' || fate === 'incompatible-restore') return undefined;
    const cluster = await start();
    this.started.push(cluster);
    return cluster;
  }

  /** Runs a creation with its new identifier reserved, so a concurrent request for the same identifier gets DBInstanceAlreadyExists. */
  private async reserving(form: Map<string, string>, param: string, create: () => Promise<Instance>): Promise<Instance> {
    const id = this.newIdentifier(form, param);
    this.reserved.add(id);
    try {
      return await create();
    } finally {
      this.reserved.delete(id);
    }
  }

  private newIdentifier(form: Map<string, string>, param: string): string {
    const id = this.identifier(form, param);
    if (this.instances.has(id) || this.reserved.has(id)) throw new SimError('DBInstanceAlreadyExists', `DB instance ${id} already exists`);
    return id;
  }

  private identifier(form: Map<string, string>, param: string): string {
    const id = form.get(param) ?? '';
    const bad = identifierError(param, id);
    if (bad) throw new SimError(bad.code, bad.message);
    return id;
  }

  private existing(id: string): Instance {
    const instance = this.instances.get(id);
    if (!instance) throw new SimError('DBInstanceNotFound', `DBInstance ${id} not found.`);
    return instance;
  }

  private bool(form: Map<string, string>, param: string): boolean | undefined {
    const value = parseBool(param, form.get(param));
    if (typeof value === 'object') throw new SimError((value as RequestError).code, (value as RequestError).message);
    return value;
  }

  private snapshotXml(s: Snapshot): Record<string, XmlValue> {
    const instance = this.instances.get(s.instanceId);
    return {
      DBSnapshotIdentifier: s.id, DBInstanceIdentifier: s.instanceId, SnapshotCreateTime: s.createTime, Engine: 'postgres',
      EngineVersion: instance?.engineVersion, Status: 'available', SnapshotType: s.type, Encrypted: instance?.storageEncrypted ?? true,
      MasterUsername: instance?.masterUsername, AllocatedStorage: instance?.allocatedStorage,
      DBSnapshotArn: `arn:aws:rds:${REGION}:${ACCOUNT}:snapshot:${s.id}`,
    };
  }
}

/** The DBInstance element. Endpoint and restorable time appear once the instance is past `creating`. */
function instanceXml(i: Instance, now: Date): Record<string, XmlValue> {
  const up = i.status !== 'creating' && i.cluster !== undefined;
  return {
    DBInstanceIdentifier: i.id, DBInstanceClass: i.instanceClass, Engine: 'postgres', DBInstanceStatus: i.status, MasterUsername: i.masterUsername,
    DBName: i.dbName, Endpoint: up ? { Address: '127.0.0.1', Port: i.cluster?.port, HostedZoneId: 'Z2R2ITUGPM61AM' } : undefined,
    AllocatedStorage: i.allocatedStorage, InstanceCreateTime: i.status === 'creating' ? undefined : i.createTime, BackupRetentionPeriod: 7,
    LatestRestorableTime: i.status === 'available' ? (i.latestRestorableTime ?? now) : undefined, MultiAZ: i.multiAZ, EngineVersion: i.engineVersion,
    PubliclyAccessible: false, StorageType: 'gp3', StorageEncrypted: i.storageEncrypted, DbiResourceId: i.resourceId,
    DBInstanceArn: `arn:aws:rds:${REGION}:${ACCOUNT}:db:${i.id}`, DeletionProtection: i.deletionProtection,
    TagList: new XmlList('Tag', i.tags.map((t) => ({ Key: t.Key, Value: t.Value }))),
    MasterUserSecret: i.secretArn === undefined ? undefined : { SecretArn: i.secretArn, SecretStatus: 'active' },
  };
}

/** Rejects known parameters whose effect the simulator does not model (rather than silently ignoring them). */
function notSimulated(action: string, form: Map<string, string>, params: readonly string[]): void {
  const given = [...form.keys()].map((k) => k.split('.')[0]).find((k) => params.includes(k));
  if (given !== undefined) throw new SimError('InvalidParameterCombination', `${action}: ${given} is not simulated`);
}

async function serverVersion(cluster: PgCluster): Promise<string> {
  const rows = await cluster.sql<{ server_version: string }>('postgres', 'SHOW server_version');
  return rows[0].server_version.split(' ')[0];
}

function resourceId(): string {
  return `db-${randomBytes(13).toString('hex').toUpperCase().slice(0, 26)}`;
}

function generatedPassword(): string {
  return randomBytes(16).toString('hex');
}

/** The RDS master password rules: 8-128 printable ASCII characters, none of / " @ or space. */
function checkPassword(password: string): void {
  if (password.length < 8 || password.length > 128 || !/^[\x21-\x7e]+$/.test(password) || /[/"@]/.test(password)) {
    throw new SimError('InvalidParameterValue', 'MasterUserPassword must be 8-128 printable ASCII characters other than /, ", @ and space');
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

function redact(params: Record<string, string>): Record<string, string> {
  // The password values, not the ManageMasterUserPassword switch.
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, /password/i.test(k) && k !== 'ManageMasterUserPassword' ? '***' : v]));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
