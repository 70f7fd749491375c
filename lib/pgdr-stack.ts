import { Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { BackupVault } from './backup-vault';
import type { PgdrConfig } from './config';

/** Properties of a {@link PgdrStack}. */
export interface PgdrStackProps extends StackProps {
  /** The validated pgdr configuration. */
  readonly config: PgdrConfig;
}

/** The pgdr deployment: composes the constructs; holds no resources of its own. */
export class PgdrStack extends Stack {
  readonly vault: BackupVault;

  constructor(scope: Construct, id: string, props: PgdrStackProps) {
    super(scope, id, props);
    const { config } = props;
    const removalPolicy = config.vault.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
    const lockDays = Duration.days(config.vault.objectLock.days);

    this.vault = new BackupVault(this, 'Vault', {
      objectLockRetention:
        config.vault.objectLock.mode === 'COMPLIANCE' ? s3.ObjectLockRetention.compliance(lockDays) : s3.ObjectLockRetention.governance(lockDays),
      noncurrentVersionExpiration: Duration.days(config.vault.noncurrentVersionExpirationDays),
      removalPolicy,
      backupClasses: config.databases.flatMap((db) =>
        db.backupClasses.map((c) => ({
          database: db.name,
          backupClass: c.name,
          infrequentAccessAfter: optionalDays(c.retention.standardIaAfterDays),
          glacierInstantRetrievalAfter: optionalDays(c.retention.glacierIrAfterDays),
          expireAfter: Duration.days(c.retention.expireAfterDays),
        })),
      ),
    });
  }
}

function optionalDays(n: number | undefined): Duration | undefined {
  return n === undefined ? undefined : Duration.days(n);
}
