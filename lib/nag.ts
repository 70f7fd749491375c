/** Helpers to acknowledge cdk-nag findings precisely (cdk-nag 3 wants one acknowledgement per finding). */
import { CfnElement, Stack } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/**
 * The id of the AwsSolutions-IAM5 finding for a policy resource `<LogicalId.Attribute>suffix`,
 * e.g. `AwsSolutions-IAM5[Resource::<VaultDumps0A91C5C9.Arn>/shop/*]`.
 */
export function wildcardResourceFinding(resource: IConstruct, attribute: string, suffix: string): string {
  const element = (resource.node.defaultChild ?? resource) as CfnElement;
  return `AwsSolutions-IAM5[Resource::<${Stack.of(resource).getLogicalId(element)}.${attribute}>${suffix}]`;
}
