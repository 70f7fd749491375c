/**
 * CloudWatch Logs log groups encrypted with a customer-managed KMS key. The key policy must let the
 * CloudWatch Logs service use the key, and only for the log groups meant to use it; the condition
 * names them by ARN, so the log groups get names fixed at synth time (a generated name would make
 * the key policy depend on the log group, which depends on the key).
 */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/**
 * The key policy statement letting CloudWatch Logs (in the stack's region) use a key for the log
 * groups whose names match `logGroupNamePattern` (`*` is a wildcard, e.g. `/pgdr/Pgdr/*`).
 */
export function cloudWatchLogsKeyStatement(scope: Construct, logGroupNamePattern: string): iam.PolicyStatement {
  const stack = Stack.of(scope);
  return new iam.PolicyStatement({
    principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
    actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:GenerateDataKey', 'kms:DescribeKey'],
    resources: ['*'], // in a key policy "*" means this key
    conditions: {
      ArnLike: {
        'kms:EncryptionContext:aws:logs:arn': stack.formatArn({
          service: 'logs',
          resource: 'log-group',
          resourceName: logGroupNamePattern,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      },
    },
  });
}

/** Properties of {@link encryptedLogGroup}. */
export interface EncryptedLogGroupProps {
  /** The key; its policy must already let CloudWatch Logs use it for `logGroupName` ({@link cloudWatchLogsKeyStatement}). */
  readonly encryptionKey: kms.IKey;
  /** The log group name, fixed at synth time. */
  readonly logGroupName: string;
  /** How long events are kept. */
  readonly retention: logs.RetentionDays;
}

/** A log group with retention, encrypted with a customer-managed key. */
export function encryptedLogGroup(scope: Construct, id: string, props: EncryptedLogGroupProps): logs.LogGroup {
  return new logs.LogGroup(scope, id, { logGroupName: props.logGroupName, encryptionKey: props.encryptionKey, retention: props.retention });
}
