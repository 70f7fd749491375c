/**
 * "Build it at deploy time, in AWS, and wait for it": a CodeBuild project (inline buildspec, no
 * source repository) whose every permission is written out, and a custom resource that starts the
 * build on Create/Update and fails the deployment when the build fails (its log link in the error).
 * Used by the PostgreSQL tools layer build (lib/pg-tools-build.ts) and the job image build
 * (lib/job-image.ts). Synthesis needs no Docker and no network: the build happens in the account.
 */
import { CustomResource, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { encryptedLogGroup } from './log-encryption';
import { acknowledgeCompliance } from './nag';

/** How long the custom resource waits for the build, in all. */
export const BUILD_TOTAL_TIMEOUT = Duration.minutes(30);
/** How often the custom resource asks CodeBuild whether the build has finished. */
export const BUILD_QUERY_INTERVAL = Duration.seconds(30);

/** Settings of {@link addDeployTimeBuild}. */
export interface DeployTimeBuildProps {
  /** What is built, for descriptions, reasons and the error that fails a deployment (e.g. "PostgreSQL client tools build"). */
  readonly what: string;
  /** Description of the project. */
  readonly description: string;
  /** CodeBuild image of the build. */
  readonly buildImage: codebuild.IBuildImage;
  /** Docker daemon in the build (needed to build container images). @default false */
  readonly privileged?: boolean;
  /** Compute of the build. @default codebuild.ComputeType.SMALL */
  readonly computeType?: codebuild.ComputeType;
  /** Environment of the build (no secrets). */
  readonly environmentVariables: Record<string, codebuild.BuildEnvironmentVariable>;
  /** Buildspec commands, one string per command (one bash shell: variables carry over). */
  readonly commands: { readonly install?: string[]; readonly build: string[] };
  /** What the build may do besides writing its logs and using {@link encryptionKey}. */
  readonly statements: iam.PolicyStatement[];
  /** Key encrypting the build output and the build's log groups (its policy must let CloudWatch Logs use it for `logGroupNamePrefix*`). */
  readonly encryptionKey: kms.IKey;
  /** The build's log groups are named `<prefix>codebuild`, `<prefix>provider`, ... */
  readonly logGroupNamePrefix: string;
  /** CloudFormation type of the custom resource (`Custom::...`). */
  readonly resourceType: string;
  /**
   * Properties of the custom resource: a change to any of them runs the build again. `Output`, when
   * given, becomes the physical id (what the build produced); else `s3://<Bucket>/<Key>`.
   */
  readonly properties: Record<string, string>;
  /** Longest run of one build. @default Duration.minutes(20) */
  readonly timeout?: Duration;
}

/** What {@link addDeployTimeBuild} made. */
export interface DeployTimeBuild {
  /** The build project. */
  readonly project: codebuild.Project;
  /** The custom resource running the build; what uses the build's output must depend on it. */
  readonly buildRun: CustomResource;
  /** The one policy of the build's role. */
  readonly buildPolicy: iam.Policy;
}

/**
 * Adds the project, its role and policy, the custom resource's handlers and provider, and the custom
 * resource to `scope` (children of `scope` itself, so the tools build keeps the logical ids it had).
 */
export function addDeployTimeBuild(scope: Construct, props: DeployTimeBuildProps): DeployTimeBuild {
  const logGroup = (id: string, name: string): logs.LogGroup => {
    // Deleted with the stack: its name is fixed, so a retained one would stop the stack from being created again.
    const group = encryptedLogGroup(scope, id, { encryptionKey: props.encryptionKey, logGroupName: `${props.logGroupNamePrefix}${name}`, retention: logs.RetentionDays.THREE_MONTHS });
    group.applyRemovalPolicy(RemovalPolicy.DESTROY);
    return group;
  };
  const buildLogs = logGroup('BuildLogs', 'codebuild');
  // Every permission of the build is written out below; the project itself may add none
  // (its defaults include wildcard actions and report-group permissions it does not need).
  const role = new iam.Role(scope, 'BuildRole', {
    assumedBy: new iam.ServicePrincipal('codebuild.amazonaws.com'),
    description: `Runs the pgdr ${props.what}`,
  });
  const project = new codebuild.Project(scope, 'Project', {
    description: props.description,
    role: role.withoutPolicyUpdates(),
    grantReportGroupPermissions: false,
    environment: { buildImage: props.buildImage, computeType: props.computeType ?? codebuild.ComputeType.SMALL, privileged: props.privileged ?? false },
    environmentVariables: props.environmentVariables,
    buildSpec: codebuild.BuildSpec.fromObject({
      version: '0.2',
      env: { shell: 'bash' },
      phases: { ...(props.commands.install ? { install: { commands: props.commands.install } } : {}), build: { commands: props.commands.build } },
    }),
    logging: { cloudWatch: { logGroup: buildLogs } },
    timeout: props.timeout ?? Duration.minutes(20),
    queuedTimeout: Duration.minutes(8),
  });
  // Set on the L1: the L2 would grant kms:ReEncrypt*/GenerateDataKey* (wildcard actions).
  (project.node.defaultChild as codebuild.CfnProject).encryptionKey = props.encryptionKey.keyArn;

  const buildPolicy = new iam.Policy(scope, 'BuildPolicy', {
    roles: [role],
    statements: [
      new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [buildLogs.logGroupArn] }),
      ...props.statements,
      new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'], resources: [props.encryptionKey.keyArn] }),
    ],
  });
  project.node.addDependency(buildPolicy);

  // The custom resource: onEvent starts the build, isComplete polls it.
  const code = lambda.Code.fromInline(buildHandlerSource(props.what));
  const handler = (id: string, entry: string, action: string): lambda.Function => {
    const group = logGroup(`${id}Logs`, id.replace(/[A-Z]/g, (c, i: number) => (i ? '-' : '') + c.toLowerCase()));
    const handlerRole = new iam.Role(scope, `${id}Role`, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    handlerRole.addToPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [group.logGroupArn] }));
    handlerRole.addToPolicy(new iam.PolicyStatement({ actions: [action], resources: [project.projectArn] }));
    return new lambda.Function(scope, id, {
      runtime: lambda.Runtime.NODEJS_24_X,
      code,
      handler: entry,
      role: handlerRole,
      logGroup: group,
      timeout: Duration.seconds(30),
      memorySize: 256,
      description: `pgdr: ${action} for the ${props.what}`,
    });
  };
  const onEvent = handler('StartBuild', 'index.onEvent', 'codebuild:StartBuild');
  const isComplete = handler('WaitForBuild', 'index.isComplete', 'codebuild:BatchGetBuilds');
  const provider = new cr.Provider(scope, 'Provider', {
    onEventHandler: onEvent,
    isCompleteHandler: isComplete,
    queryInterval: BUILD_QUERY_INTERVAL,
    totalTimeout: BUILD_TOTAL_TIMEOUT,
    logGroup: logGroup('ProviderLogs', 'provider'),
    disableWaiterStateMachineLogging: false,
    // Every state transition (no execution data: it holds CloudFormation's pre-signed response URL).
    waiterStateMachineLogOptions: { destination: logGroup('WaiterLogs', 'waiter'), level: sfn.LogLevel.ALL, includeExecutionData: false },
  });
  traceWaiter(provider);
  acknowledgeProviderFindings(provider, [onEvent, isComplete]);
  acknowledgeCompliance(
    scope,
    'IAMNoInlinePolicy',
    `Each role of the ${props.what} (project, handlers, provider framework) carries one policy of its own, naming the one project, function, log group or object it needs; none is shared.`,
  );
  acknowledgeCompliance(
    scope,
    'LambdaInsideVPC',
    `The ${props.what} functions only call the CodeBuild, Lambda and Step Functions APIs during a deployment and touch no database or backup; outside the VPC they need no NAT or endpoints.`,
  );
  acknowledgeCompliance(
    scope,
    'LambdaDLQ',
    `The ${props.what} functions run only inside a deployment; every failure reaches CloudFormation, which fails and rolls back the deployment, so a queue of failed events would hold nothing to act on.`,
  );
  acknowledgeCompliance(
    scope,
    'LambdaConcurrency',
    `The ${props.what} functions run once per deployment that changes what they build (one build, polled every 30 s); reserving concurrency for them would only take it from the jobs.`,
  );
  acknowledgeCompliance(
    project,
    'CodeBuildProjectSourceRepoUrl',
    `The ${props.what} project has no source repository (NO_SOURCE: an inline buildspec and S3 assets), so there is no repository credential for OAuth to replace.`,
  );

  const buildRun = new CustomResource(scope, 'Build', {
    serviceToken: provider.serviceToken,
    resourceType: props.resourceType,
    properties: { ProjectName: project.projectName, ...props.properties },
  });
  // The build needs its project, role and policy in place.
  buildRun.node.addDependency(project, buildPolicy);
  return { project, buildRun, buildPolicy };
}

/**
 * Turns on X-Ray tracing of the Provider's waiter state machine (the Provider API has no switch for
 * it) and lets its role send the traces.
 */
function traceWaiter(provider: cr.Provider): void {
  const waiter = provider.node.findChild('waiter-state-machine');
  (waiter.node.defaultChild as sfn.CfnStateMachine).tracingConfiguration = { enabled: true };
  (waiter.node.findChild('Role') as iam.Role).addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets'],
      resources: ['*'], // X-Ray actions take no resource
    }),
  );
  Validations.of(waiter).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason: 'The waiter needs CloudWatch Logs log-delivery actions and X-Ray trace actions, which take no resource; its Lambda invocations are scoped to the framework functions.',
  });
}

/**
 * cdk-nag findings on what aws-cdk-lib's Provider framework creates (its three functions and
 * their roles), none of which the Provider API lets us change.
 */
function acknowledgeProviderFindings(provider: cr.Provider, handlers: lambda.Function[]): void {
  const v = Validations.of(provider);
  v.acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    reason: "The provider framework's own functions get the AWS-managed basic execution policy, which only lets them write their logs.",
  });
  const stack = Stack.of(provider);
  const invoked = [...handlers, provider.node.findChild('framework-isComplete') as lambda.Function, provider.node.findChild('framework-onTimeout') as lambda.Function];
  for (const fn of invoked) {
    const logicalId = stack.getLogicalId(fn.node.defaultChild as lambda.CfnFunction);
    v.acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>:*]`,
      reason: `lambda:InvokeFunction on "${fn.node.id}" written by the provider framework: ":*" covers the versions and aliases of that one function, no other function.`,
    });
  }
}

/**
 * The custom resource handlers (Node.js, AWS SDK v3 from the Lambda runtime). `onEvent` starts the
 * build on Create and Update and does nothing on Delete; `isComplete` reports IN_PROGRESS as not
 * complete, SUCCEEDED as complete, and anything else as an error naming `what`, the failed phases,
 * their messages and the build's log link, which fails the deployment.
 */
export function buildHandlerSource(what: string): string {
  return `
const { CodeBuildClient, StartBuildCommand, BatchGetBuildsCommand } = require('@aws-sdk/client-codebuild');
const client = new CodeBuildClient({});
const WHAT = ${JSON.stringify(what)};
exports.onEvent = async (event) => {
  const p = event.ResourceProperties;
  if (event.RequestType === 'Delete') return { PhysicalResourceId: event.PhysicalResourceId };
  const out = await client.send(new StartBuildCommand({ projectName: p.ProjectName }));
  const id = out.build.id;
  const { ServiceToken, ProjectName, ...data } = p;
  console.log(JSON.stringify({ message: 'build started', buildId: id, ...data }));
  return { PhysicalResourceId: p.Output || 's3://' + p.Bucket + '/' + p.Key, Data: { BuildId: id, ...data } };
};
exports.isComplete = async (event) => {
  if (event.RequestType === 'Delete') return { IsComplete: true };
  const id = event.Data && event.Data.BuildId;
  if (!id) throw new Error('no build id from onEvent');
  const out = await client.send(new BatchGetBuildsCommand({ ids: [id] }));
  const b = (out.builds || [])[0];
  if (!b) throw new Error('build ' + id + ' not found');
  if (b.buildStatus === 'SUCCEEDED') return { IsComplete: true };
  if (b.buildStatus === 'IN_PROGRESS') return { IsComplete: false };
  const reasons = (b.phases || [])
    .filter((ph) => ph.phaseStatus && ph.phaseStatus !== 'SUCCEEDED')
    .map((ph) => ph.phaseType + ' ' + ph.phaseStatus + ((ph.contexts || []).some((c) => c.message) ? ': ' + ph.contexts.map((c) => c.message).filter(Boolean).join('; ') : ''));
  const log = (b.logs && b.logs.deepLink) || 'no log link';
  const msg = WHAT + ' ' + id + ' ' + b.buildStatus + ': ' + (reasons.join(' | ') || 'no reason given') + ' (log: ' + log + ')';
  console.log(JSON.stringify({ message: 'build failed', buildId: id, status: b.buildStatus, reasons, log }));
  throw new Error(msg.slice(0, 2000));
};
`;
}
