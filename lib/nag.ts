/** The cdk-nag rule packs pgdr is checked against, and helpers to acknowledge findings precisely (cdk-nag 3 wants one acknowledgement per finding). */
import { CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, HIPAASecurityChecks, NagPack, NIST80053R5Checks, PCIDSS321Checks } from 'cdk-nag';
import { IConstruct } from 'constructs';

/**
 * Every rule pack a pgdr app runs at synthesis: AWS Solutions, and the NIST 800-53 rev 5, HIPAA
 * Security and PCI DSS 3.2.1 compliance packs (pgdr may hold health and payment data). All packs
 * check the one synthesis; acknowledgements (with their reasons) are written into the template's
 * Metadata once, as an audit trail.
 */
export function nagPacks(scope: IConstruct): NagPack[] {
  return [
    new AwsSolutionsChecks(scope, { writeSuppressionsToCloudFormation: true }),
    new NIST80053R5Checks(scope),
    new HIPAASecurityChecks(scope),
    new PCIDSS321Checks(scope),
  ];
}

/** Names of the compliance packs (the prefixes of their rule ids). */
export type CompliancePack = 'NIST.800.53.R5' | 'HIPAA.Security' | 'PCI.DSS.321';
const ALL: CompliancePack[] = ['NIST.800.53.R5', 'HIPAA.Security', 'PCI.DSS.321'];

/** Compliance-pack rules pgdr acknowledges somewhere, and the packs (of cdk-nag 3.0) that have each. */
const PACKS_OF = {
  CodeBuildProjectSourceRepoUrl: ['HIPAA.Security', 'PCI.DSS.321'],
  IAMNoInlinePolicy: ALL,
  LambdaConcurrency: ['NIST.800.53.R5', 'HIPAA.Security'],
  LambdaDLQ: ['NIST.800.53.R5', 'HIPAA.Security'],
  LambdaInsideVPC: ALL,
  S3BucketLoggingEnabled: ALL,
  S3BucketReplicationEnabled: ALL,
  S3DefaultEncryptionKMS: ALL,
  VPCNoUnrestrictedRouteToIGW: ALL,
} satisfies Record<string, CompliancePack[]>;

/** A rule that several compliance packs share, by its name without the pack prefix. */
export type ComplianceRule = keyof typeof PACKS_OF;

/**
 * Acknowledges one rule on `scope` (and everything under it) in every compliance pack that has
 * the rule, with one reason: the packs check the same property, so the cause is the same.
 */
export function acknowledgeCompliance(scope: IConstruct, rule: ComplianceRule, reason: string): void {
  for (const pack of PACKS_OF[rule] as CompliancePack[]) Validations.of(scope).acknowledge({ id: `${pack}-${rule}`, reason });
}

/**
 * The id of the AwsSolutions-IAM5 finding for a policy resource `<LogicalId.Attribute>suffix`,
 * e.g. `AwsSolutions-IAM5[Resource::<VaultDumps0A91C5C9.Arn>/shop/*]`.
 */
export function wildcardResourceFinding(resource: IConstruct, attribute: string, suffix: string): string {
  const element = (resource.node.defaultChild ?? resource) as CfnElement;
  return `AwsSolutions-IAM5[Resource::<${Stack.of(resource).getLogicalId(element)}.${attribute}>${suffix}]`;
}

/**
 * The findings every pgdr function has, acknowledged once: X-Ray's actions take no resource, and
 * the AWS-managed execution policies (basic, and VPC access for a function in a VPC) grant nothing
 * on data. `alsoOnStar` names (with its reason) what else the function does on "*" (one finding, one reason).
 */
export function acknowledgeLambdaBasics(fn: IConstruct, inVpc: boolean, alsoOnStar?: string): void {
  Validations.of(fn).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason: `X-Ray PutTraceSegments and PutTelemetryRecords take no resource; active tracing needs them on "*".${alsoOnStar ? ` ${alsoOnStar}` : ''}`,
  });
  if (inVpc) {
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
      reason: 'The AWS-managed VPC access policy is what Lambda needs to attach network interfaces; it grants nothing on data.',
    });
  }
  Validations.of(fn).acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    reason: 'The AWS-managed basic execution policy only lets the function write its own logs.',
  });
}
