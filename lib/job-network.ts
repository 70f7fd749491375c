import { Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { cloudWatchLogsKeyStatement, encryptedLogGroup } from './log-encryption';
import { acknowledgeCompliance } from './nag';

/** An existing network the jobs should run in. */
export interface ExistingNetwork {
  /** The VPC ID. */
  readonly vpcId: string;
  /** Availability zones of the subnets, in the same order. */
  readonly availabilityZones: string[];
  /** Private subnets with routes to S3, Secrets Manager and the databases. */
  readonly privateSubnetIds: string[];
}

/** How the flow logs of a created VPC are encrypted. */
export interface FlowLogEncryption {
  /** The key; its policy must already let CloudWatch Logs use it for `logGroupName` (see log-encryption.ts). */
  readonly key: kms.IKey;
  /** Name of the flow log group, fixed at synth time. */
  readonly logGroupName: string;
}

/** Properties of a {@link JobNetwork}. */
export interface JobNetworkProps {
  /** Run in this existing network instead of creating one. @default a new VPC (2 AZs, 1 NAT gateway, S3 gateway endpoint, flow logs) */
  readonly existing?: ExistingNetwork;
  /** Key and name of the flow log group of a created VPC. @default a key created here (rotation on) for the log group `/pgdr/<stack>/vpc-flow-logs` */
  readonly flowLogEncryption?: FlowLogEncryption;
}

/**
 * Where the dump and verify jobs run. A new VPC has private subnets with a NAT gateway (external
 * databases may live outside AWS) in public subnets that give no instance a public IP, an S3
 * gateway endpoint (dump traffic stays off the NAT) and KMS-encrypted VPC flow logs; an existing
 * one is imported as given.
 */
export class JobNetwork extends Construct {
  readonly vpc: ec2.IVpc;
  /** The subnets the jobs run in. */
  readonly subnets: ec2.SubnetSelection;

  constructor(scope: Construct, id: string, props: JobNetworkProps = {}) {
    super(scope, id);
    const existing = props.existing;
    if (existing) {
      if (existing.availabilityZones.length !== existing.privateSubnetIds.length) {
        throw new Error(
          `existing.availabilityZones: must list one zone per subnet in existing.privateSubnetIds (received ${existing.availabilityZones.length} zones for ${existing.privateSubnetIds.length} subnets)`,
        );
      }
      this.vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: existing.vpcId,
        availabilityZones: existing.availabilityZones,
        privateSubnetIds: existing.privateSubnetIds,
      });
      this.subnets = { subnets: this.vpc.privateSubnets };
      return;
    }
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        // Only the NAT gateway lives here, on its own Elastic IP: nothing gets a public IP by launching here.
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
        { name: 'jobs', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      ],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
    });
    const flowLogs = encryptedLogGroup(this, 'FlowLogs', { ...this.flowLogEncryption(props.flowLogEncryption), retention: logs.RetentionDays.ONE_YEAR });
    const flowLog = vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });
    acknowledgeCompliance(
      flowLog,
      'IAMNoInlinePolicy',
      'The flow log delivery role carries one policy of its own, written by CDK: write access to the one flow log group, attached to no other role.',
    );
    for (const subnet of vpc.publicSubnets) {
      acknowledgeCompliance(
        subnet,
        'VPCNoUnrestrictedRouteToIGW',
        'The public subnets hold only the NAT gateway, which needs the internet gateway route to reach external databases and AWS APIs; no job runs there and nothing gets a public IP.',
      );
    }
    this.vpc = vpc;
    this.subnets = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
  }

  private flowLogEncryption(given: FlowLogEncryption | undefined): { encryptionKey: kms.IKey; logGroupName: string } {
    if (given) return { encryptionKey: given.key, logGroupName: given.logGroupName };
    const logGroupName = `/pgdr/${Stack.of(this).stackName}/vpc-flow-logs`;
    const key = new kms.Key(this, 'FlowLogKey', { description: `pgdr VPC flow logs (${Stack.of(this).stackName})`, enableKeyRotation: true });
    key.addToResourcePolicy(cloudWatchLogsKeyStatement(this, logGroupName));
    return { encryptionKey: key, logGroupName };
  }
}
