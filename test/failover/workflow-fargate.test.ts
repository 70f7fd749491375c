/**
 * The failover workflow's restore step on Fargate: a stack whose `shop` database restores as an ECS
 * task (`ecs:runTask.sync`) and whose `clinic` database keeps the restore Lambda, synthesized once
 * (test/support/failover-world.ts `fargateRestore`). Its definition runs in aws-local-stepfunctions
 * against the RDS simulator and the local S3 server; the task's container is the REAL restore
 * handler behind the container contract (PGDR_EVENT in, the result at PGDR_RESULT_KEY, exit code).
 * The same synthesis carries the template assertions: the Task state, its IAM, cdk-nag.
 */
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ENV, IMAGE_PATHS } from '../../container/contract';
import { recoveryInstanceIdentifier } from '../../lambda/failover/preflight/core';
import { keysFromManifestKey, latestVerifiedKey } from '../../lambda/shared/layout';
import { parseLatestVerified } from '../../lambda/shared/records';
import { STATES } from '../../lib/failover-workflow';
import { aslErrors } from '../../local/failover-runner';
import type { RunOptions, RunResult } from '../../local/failover-runner';
import { startWorld, World } from '../support/failover-world';

jest.setTimeout(180_000);

let world: World;
beforeAll(async () => {
  world = await startWorld({ fargateRestore: ['shop'] });
}, 300_000);
afterAll(async () => {
  await world?.stop();
});

type Json = Record<string, unknown>;
interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Json;
}

/** The statements of the Fargate workflow's state machine role. */
function stateMachineStatements(): Statement[] {
  const stack = world.synth.stack;
  const roleId = stack.getLogicalId(world.workflow.stateMachine.role.node.defaultChild as never);
  const policies = Object.values(world.synth.template.findResources('AWS::IAM::Policy')) as { Properties: { Roles: { Ref: string }[]; PolicyDocument: { Statement: Statement[] } } }[];
  return policies.filter((p) => p.Properties.Roles.some((r) => r.Ref === roleId)).flatMap((p) => p.Properties.PolicyDocument.Statement);
}

async function run(input: Json, options: RunOptions = {}): Promise<RunResult & { instance: string }> {
  const executionName = options.executionName ?? `fargate-${Math.random().toString(36).slice(2, 10)}`;
  const result = await world.runner.run(input, { ...options, executionName });
  return { ...result, instance: recoveryInstanceIdentifier(String(input.database), executionName) };
}

describe('the template', () => {
  it('restores a Fargate database with ecs:runTask.sync of the plan\'s task, the restore event in PGDR_EVENT, then reads its result from the vault', () => {
    const states = world.runner.definition.States as Record<string, Json>;
    expect(aslErrors(world.runner.definition)).toEqual([]);
    expect(states[STATES.describeCreated].Next).toBe(STATES.restoreRunner);
    expect(JSON.stringify(states[STATES.restoreRunner])).toContain('"Variable":"$.plan.runner","StringEquals":"fargate","Next":"PrepareRestoreTask"');
    expect(states[STATES.restoreRunner].Default).toBe(STATES.restoreDump);
    expect(states[STATES.runRestoreTask]).toMatchObject({
      Type: 'Task',
      Resource: 'arn:aws:states:::ecs:runTask.sync',
      TimeoutSecondsPath: '$.plan.restoreTask.timeoutSeconds',
      ResultPath: null,
      Parameters: {
        LaunchType: 'FARGATE',
        'Cluster.$': '$.plan.restoreTask.cluster',
        'TaskDefinition.$': '$.plan.restoreTask.taskDefinition',
        NetworkConfiguration: { AwsvpcConfiguration: { 'Subnets.$': '$.plan.restoreTask.subnets', 'SecurityGroups.$': '$.plan.restoreTask.securityGroups', AssignPublicIp: 'DISABLED' } },
        Overrides: {
          ContainerOverrides: [
            {
              'Name.$': '$.plan.restoreTask.containerName',
              Command: ['node', IMAGE_PATHS.entry, 'restore'],
              Environment: [
                { Name: ENV.event, 'Value.$': 'States.JsonToString($.restoreRequest)' },
                { Name: ENV.resultKey, 'Value.$': '$.plan.restoreTask.resultKey' },
              ],
            },
          ],
        },
      },
      Catch: [{ ErrorEquals: ['States.ALL'], Next: STATES.failed, ResultPath: '$.failure' }],
      Next: STATES.readRestoreResult,
    });
    // The event is the restore Lambda's payload, built once for both runners.
    expect(states[STATES.prepareRestoreTask].Parameters).toEqual(
      (states[STATES.restoreDump].Parameters as Json).Payload,
    );
    expect(states[STATES.readRestoreResult]).toMatchObject({
      Resource: 'arn:aws:states:::aws-sdk:s3:getObject',
      Parameters: { 'Key.$': '$.plan.restoreTask.resultKey' },
      ResultSelector: { 'value.$': 'States.StringToJson($.Body)' },
      ResultPath: '$.restore',
      Next: 'UnwrapRestoreTask',
      Catch: [{ ErrorEquals: ['States.ALL'], Next: STATES.failed, ResultPath: '$.failure' }],
    });
    // The Configure state renders the task of `shop` only; `clinic` keeps its function.
    const configure = JSON.stringify(states[STATES.configure]);
    expect(configure).toMatch(/"shop":\{.*"restoreTask":\{"cluster":"arn:aws:ecs:[^"]+:cluster\/[^"]+","taskDefinition":"arn:aws:ecs:[^"]+:task-definition\/[^"]+","containerName":"job","subnets":\["subnet-/);
    expect(configure).toMatch(/"shop":\{.*"functions":\{"restore":null,/);
    expect(configure).toMatch(/"clinic":\{.*"functions":\{"restore":"arn:aws:lambda:/);
  });

  it('IAM: no wildcard action; RunTask of the task definition in its cluster; PassRole only of the task\'s two roles, only to ECS; results read under the database\'s recoveries/', () => {
    const statements = stateMachineStatements();
    const actions = statements.flatMap((s) => [s.Action].flat());
    expect(actions.filter((a) => a.includes('*'))).toEqual([]);
    const stack = world.synth.stack;
    const { taskDefinition, cluster } = world.fargate!;
    const ref = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as never);
    const passRole = statements.filter((s) => [s.Action].flat().includes('iam:PassRole'));
    expect(passRole).toHaveLength(1);
    expect(passRole[0].Resource).toEqual(
      expect.arrayContaining([{ 'Fn::GetAtt': [ref(taskDefinition.taskRole), 'Arn'] }, { 'Fn::GetAtt': [ref(taskDefinition.executionRole!), 'Arn'] }]),
    );
    expect([passRole[0].Resource].flat()).toHaveLength(2);
    expect(passRole[0].Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
    const runTask = statements.find((s) => [s.Action].flat().includes('ecs:RunTask'))!;
    expect(runTask).toMatchObject({ Resource: { Ref: ref(taskDefinition) }, Condition: { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [ref(cluster), 'Arn'] } } } });
    const follow = statements.find((s) => [s.Action].flat().includes('ecs:DescribeTasks'))!;
    expect(JSON.stringify(follow.Resource)).toContain(':task/');
    expect(JSON.stringify(follow.Resource)).toContain(ref(cluster));
    const rule = statements.find((s) => [s.Action].flat().includes('events:PutRule'))!;
    expect(JSON.stringify(rule.Resource)).toContain(':rule/StepFunctionsGetEventsForECSTaskRule');
    const read = statements.find((s) => [s.Action].flat().includes('s3:GetObject'))!;
    expect(JSON.stringify(read.Resource)).toContain('/shop/recoveries/*');
    expect(JSON.stringify(read.Resource)).not.toContain('/clinic/');
    // cdk-nag: nothing left unacknowledged in the workflow (E3019, the same log group names as the stack's own workflow, comes from this test's second workflow).
    expect(world.synth.violations.filter((v) => v.path.includes('/FargateFailover/') && v.rule !== 'E3019')).toEqual([]);
  });
});

describe('runs', () => {
  test('dump drill of the Fargate database: restored by the task, validated, recorded like a Lambda restore, instance deleted', async () => {
    const fargate = await run({ database: 'shop', source: 'dump', mode: 'drill' });
    expect([fargate.status, fargate.error, fargate.cause]).toEqual(['SUCCEEDED', undefined, undefined]);
    expect(fargate.path).toEqual(expect.arrayContaining([STATES.createInstance, STATES.restoreRunner, STATES.prepareRestoreTask, STATES.runRestoreTask, STATES.readRestoreResult, STATES.validate, STATES.deleteDrill]));
    expect(fargate.path).not.toContain(STATES.restoreDump);
    expect(fargate.path).not.toContain(STATES.cutover);
    expect(world.sim.status(fargate.instance) ?? 'gone').toMatch(/^(deleting|gone)$/);
    expect(world.fargate!.containerErrors).toEqual([]);

    // The same drill of the Lambda database in the same state machine: the records have one shape.
    const lambda = await run({ database: 'clinic', source: 'dump', mode: 'drill' });
    expect([lambda.status, lambda.error]).toEqual(['SUCCEEDED', undefined]);
    expect(lambda.path).toContain(STATES.restoreDump);
    expect(lambda.path).not.toContain(STATES.runRestoreTask);
    const [a, b] = [await world.recoveryRecord('shop', fargate.executionName), await world.recoveryRecord('clinic', lambda.executionName)];
    expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
    expect(a).toMatchObject({ database: 'shop', mode: 'drill', source: 'dump', outcome: 'succeeded', validation: { ok: true }, cleanup: { deleted: true }, failure: null });
    expect(Object.keys(a.timings).sort()).toEqual(Object.keys(b.timings).sort());

    // The task left the restore result at this execution's key: what ReadRestoreResult put at $.restore.
    const keys = (await world.keys('shop/recoveries/')).filter((k) => k.includes(fargate.executionName));
    const resultKey = keys.find((k) => k.endsWith('.restore.result'))!;
    expect(resultKey).toMatch(/^shop\/recoveries\/\d{4}\/\d{2}\/fargate-[a-z0-9]+\.restore\.result$/);
    const result = JSON.parse((await world.store().getText(resultKey))!.text) as Json;
    // The container entry point's result document (container/entry.ts): the restore result under `result`.
    expect(result).toMatchObject({ job: 'restore', ok: true, result: { ok: true, targetDatabase: 'clinicdb' } });
    expect(JSON.stringify(result)).not.toContain(world.source.password);
  });

  test('a restore task that exits non-zero (damaged dump): States.TaskFailed, no validation, no cutover, the drill instance deleted, the failure paged and recorded', async () => {
    const pointer = parseLatestVerified((await world.store().getText(latestVerifiedKey('shop')))!.text, latestVerifiedKey('shop'));
    const dumpKey = keysFromManifestKey(pointer.manifestKey).dump;
    const { s3 } = world;
    const original = await (await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: dumpKey }))).Body!.transformToByteArray();
    const errorsBefore = world.fargate!.containerErrors.length;
    let result: RunResult & { instance: string };
    try {
      await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: dumpKey, Body: Buffer.from(original).subarray(0, Math.floor(original.length / 2)) }));
      result = await run({ database: 'shop', source: 'dump', mode: 'drill' });
    } finally {
      await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: dumpKey, Body: original }));
    }
    expect([result.status, result.error]).toEqual(['FAILED', 'States.TaskFailed']);
    expect(JSON.parse(result.cause!)).toMatchObject({ LastStatus: 'STOPPED', Containers: [{ ExitCode: 1 }] });
    expect(world.fargate!.containerErrors.length).toBe(errorsBefore + 1);
    expect(result.path).toEqual(expect.arrayContaining([STATES.runRestoreTask, STATES.failed, STATES.deleteFailed, STATES.report, STATES.notifyFailure, STATES.fail]));
    expect(result.path).not.toContain(STATES.readRestoreResult);
    expect(result.path).not.toContain(STATES.validate);
    expect(result.path).not.toContain(STATES.cutover);
    expect(world.sim.status(result.instance) ?? 'gone').toMatch(/^(deleting|gone)$/);
    expect(result.notifications.map((n) => n.state)).toEqual([STATES.notifyFailure]);
    expect(await world.recoveryRecord('shop', result.executionName)).toMatchObject({ outcome: 'failed', failure: { error: 'States.TaskFailed' }, cleanup: { deleted: true } });
  });
});
