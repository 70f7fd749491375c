/**
 * Synthesis as a library call, for the CLI (runbook, local drill) and the tests: the pgdr app for a
 * configuration, synthesized offline and Docker-free into a temp directory (removed afterwards),
 * with the context of cdk.json and every cdk-nag pack; and the failover state machine's definition
 * read back from the synthesized template.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { addPgdr } from './app';
import { loadConfig, PgdrConfig } from './config';
import type { PgdrStack } from './pgdr-stack';

export interface NagViolation {
  readonly rule: string;
  readonly path: string;
}

/** A CloudFormation template as JSON. */
export interface TemplateJson {
  readonly Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; Metadata?: Record<string, unknown> }>;
  readonly Outputs?: Record<string, { Value: unknown; Description?: string }>;
  readonly [key: string]: unknown;
}

export interface Synthesis {
  readonly stack: PgdrStack;
  readonly template: TemplateJson;
  /** Unacknowledged cdk-nag findings (empty when clean). */
  readonly violations: NagViolation[];
}

/**
 * The app context of a real `cdk synth` (the feature flags of cdk.json), plus a switch that keeps
 * synthesis offline and Docker-free (no asset bundling that needs Docker).
 */
export const SYNTH_CONTEXT: Record<string, unknown> = {
  ...(JSON.parse(readFileSync(join(__dirname, '..', 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context,
  'aws:cdk:bundling-stacks': [],
};

/**
 * Synthesizes a configuration file (or an already validated configuration) once, with every cdk-nag
 * pack of the app. `extend` may add constructs to the stack before synthesis (to prove the checks
 * catch findings).
 */
export function synthesize(config: string | PgdrConfig, extend?: (stack: PgdrStack) => void): Synthesis {
  const outdir = mkdtempSync(join(tmpdir(), 'pgdr-synth-'));
  try {
    const app = new App({ outdir, context: SYNTH_CONTEXT });
    const stack = addPgdr(app, typeof config === 'string' ? loadConfig(config) : config);
    extend?.(stack);
    let violations: NagViolation[] = [];
    try {
      app.synth();
    } catch (err) {
      const report = join(outdir, 'validation-report.json');
      if (!existsSync(report)) throw err;
      violations = readViolations(report);
      if (violations.length === 0) throw err;
    }
    const template = JSON.parse(readFileSync(join(outdir, `${stack.artifactId}.template.json`), 'utf8')) as TemplateJson;
    return { stack, template, violations };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

function readViolations(path: string): NagViolation[] {
  const report = JSON.parse(readFileSync(path, 'utf8')) as {
    pluginReports: { violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[] }[];
  };
  return report.pluginReports.flatMap((p) => p.violations.flatMap((v) => v.violatingConstructs.map((c) => ({ rule: v.ruleName, path: c.constructPath }))));
}

type Json = Record<string, unknown>;
type StateDef = { Type: string; Resource?: string; Retry?: unknown[]; Parameters?: Json; Next?: string; Default?: string; End?: boolean; Choices?: Json[]; Catch?: Json[]; Comment?: string };

/** A state machine definition (Amazon States Language), as far as pgdr reads it. */
export interface Definition {
  StartAt: string;
  States: Record<string, StateDef>;
  TimeoutSeconds?: number;
}

/** Where the definition's tokens point when it is run or drawn without a deployment. */
export interface TokenValues {
  readonly account: string;
  readonly region: string;
}

/** The ARN a resolved `Fn::GetAtt [X, Arn]` of a function gets: its logical id as the function name. */
export const localFunctionArn = (values: TokenValues, logicalId: string) => `arn:aws:lambda:${values.region}:${values.account}:function:${logicalId}`;
/** The ARN a resolved `Ref` of a topic gets: its logical id as the topic name. */
export const localTopicArn = (values: TokenValues, logicalId: string) => `arn:aws:sns:${values.region}:${values.account}:${logicalId}`;

/** The ARN a resolved `Ref` of an ECS task definition gets: its logical id as the family, revision 1. */
export const localTaskDefinitionArn = (values: TokenValues, logicalId: string) => `arn:aws:ecs:${values.region}:${values.account}:task-definition/${logicalId}:1`;

function resolveToken(token: Json, values: TokenValues, resources: TemplateJson['Resources']): string {
  if ('Ref' in token) {
    const ref = token.Ref as string;
    if (ref === 'AWS::Partition') return 'aws';
    if (ref === 'AWS::Region') return values.region;
    if (ref === 'AWS::AccountId') return values.account;
    if (ref === 'AWS::URLSuffix') return 'amazonaws.com';
    const type = resources[ref]?.Type;
    if (type === 'AWS::ECS::TaskDefinition') return localTaskDefinitionArn(values, ref);
    if (type === 'AWS::EC2::Subnet') return `subnet-${ref}`;
    if (type === 'AWS::S3::Bucket') return ref.toLowerCase();
    return localTopicArn(values, ref);
  }
  if ('Fn::GetAtt' in token) {
    const [id, attr] = token['Fn::GetAtt'] as [string, string];
    const type = resources[id]?.Type;
    if (attr === 'Arn' && type === 'AWS::ECS::Cluster') return `arn:aws:ecs:${values.region}:${values.account}:cluster/${id}`;
    if (attr === 'GroupId' && type === 'AWS::EC2::SecurityGroup') return `sg-${id}`;
    if (attr !== 'Arn') throw new Error(`unexpected Fn::GetAtt ${id}.${attr} in the definition`);
    return localFunctionArn(values, id);
  }
  throw new Error(`unexpected token in the definition: ${JSON.stringify(token)}`);
}

/**
 * The failover state machine's definition from a synthesized template, tokens resolved to `values`:
 * the state machine `logicalId`, @default the first whose logical id starts with "Failover".
 */
export function failoverDefinition(template: TemplateJson, values: TokenValues, logicalId?: string): Definition {
  const entry = Object.entries(template.Resources).find(([id, r]) => r.Type === 'AWS::StepFunctions::StateMachine' && (logicalId === undefined ? id.startsWith('Failover') : id === logicalId));
  if (!entry) throw new Error(`no failover state machine${logicalId ? ` ${logicalId}` : ''} in the template`);
  const body = entry[1].Properties?.DefinitionString;
  let text: string;
  if (typeof body === 'string') text = body;
  else {
    const join = (body as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
    // A token inside a JSON string: its value is inserted as is (ARNs need no escaping).
    text = join[1].map((part) => (typeof part === 'string' ? part : resolveToken(part as Json, values, template.Resources))).join(join[0]);
  }
  return JSON.parse(text) as Definition;
}
