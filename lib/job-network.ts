import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** An existing network the jobs should run in. */
export interface ExistingNetwork {
  /** The VPC ID. */
  readonly vpcId: string;
  /** Availability zones of the subnets, in the same order. */
  readonly availabilityZones: string[];
  /** Private subnets with routes to S3, Secrets Manager and the databases. */
  readonly privateSubnetIds: string[];
}

/** Properties of a {@link JobNetwork}. */
export interface JobNetworkProps {
  /** Run in this existing network instead of creating one. @default a new VPC (2 AZs, 1 NAT gateway, S3 gateway endpoint, flow logs) */
  readonly existing?: ExistingNetwork;
}

/**
 * Where the dump and verify jobs run. A new VPC has private subnets with a NAT gateway (external
 * databases may live outside AWS), an S3 gateway endpoint (dump traffic stays off the NAT) and
 * VPC flow logs; an existing one is imported as given.
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
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'jobs', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      ],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
    });
    vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(new logs.LogGroup(this, 'FlowLogs', { retention: logs.RetentionDays.ONE_YEAR })),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });
    this.vpc = vpc;
    this.subnets = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
  }
}
