/**
 * The RdsReader adapter on `@aws-sdk/client-rds`: DescribeDBInstances and DescribeDBSnapshots,
 * reads only. A missing instance or snapshot is `undefined`, every other error is rethrown.
 */
import { DBInstance, DBSnapshot, DescribeDBInstancesCommand, DescribeDBSnapshotsCommand, RDSClient } from '@aws-sdk/client-rds';
import type { RdsReader, SnapshotInfo, SourceInstance } from './core';

const isNotFound = (err: unknown, code: string): boolean => {
  const name = (err as { name?: string; Code?: string }).name ?? '';
  return name === code || name === `${code}Fault` || (err as { Code?: string }).Code === code;
};

/** What `call` finds, or undefined when RDS answers `code` (the instance or snapshot does not exist). */
async function unlessNotFound<T>(code: string, call: () => Promise<T | undefined>): Promise<T | undefined> {
  try {
    return await call();
  } catch (err) {
    if (isNotFound(err, code)) return undefined;
    throw err;
  }
}

function instanceOf(i: DBInstance): SourceInstance {
  return {
    identifier: i.DBInstanceIdentifier ?? '',
    status: i.DBInstanceStatus ?? 'unknown',
    engineVersion: i.EngineVersion ?? null,
    latestRestorableTime: i.LatestRestorableTime ?? null,
    // DescribeDBInstances does not state it (DescribeDBInstanceAutomatedBackups' RestoreWindow does).
    earliestRestorableTime: null,
    instanceCreateTime: i.InstanceCreateTime ?? null,
    backupRetentionDays: i.BackupRetentionPeriod ?? null,
    dbSubnetGroupName: i.DBSubnetGroup?.DBSubnetGroupName ?? null,
    vpcSecurityGroupIds: (i.VpcSecurityGroups ?? []).map((g) => g.VpcSecurityGroupId).filter((id): id is string => typeof id === 'string'),
    port: i.Endpoint?.Port ?? i.DbInstancePort ?? null,
    allocatedStorageGiB: i.AllocatedStorage ?? null,
  };
}

function snapshotOf(s: DBSnapshot): SnapshotInfo {
  return {
    identifier: s.DBSnapshotIdentifier ?? '',
    instanceIdentifier: s.DBInstanceIdentifier ?? '',
    status: s.Status ?? 'unknown',
    type: s.SnapshotType ?? 'unknown',
    createdAt: s.SnapshotCreateTime ?? null,
  };
}

export function rdsReader(client: RDSClient): RdsReader {
  return {
    describeInstance: (identifier) =>
      unlessNotFound('DBInstanceNotFound', async () => {
        const out = await client.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier }));
        const found = (out.DBInstances ?? []).find((i) => i.DBInstanceIdentifier === identifier);
        return found ? instanceOf(found) : undefined;
      }),
    async listSnapshots(instanceIdentifier) {
      const snapshots: SnapshotInfo[] = [];
      let marker: string | undefined;
      do {
        const out = await client.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: instanceIdentifier, ...(marker ? { Marker: marker } : {}) }));
        snapshots.push(...(out.DBSnapshots ?? []).map(snapshotOf));
        marker = out.Marker;
      } while (marker);
      return snapshots;
    },
    describeSnapshot: (snapshotIdentifier) =>
      unlessNotFound('DBSnapshotNotFound', async () => {
        const out = await client.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: snapshotIdentifier }));
        const found = (out.DBSnapshots ?? []).find((s) => s.DBSnapshotIdentifier === snapshotIdentifier);
        return found ? snapshotOf(found) : undefined;
      }),
  };
}
