/**
 * Runs a Step Functions AWS SDK integration task (`arn:aws:states:::aws-sdk:rds:<action>` with its
 * `Parameters` object) against the RDS simulator, the way the workflow tests route RDS Tasks.
 *
 * The SDK client silently drops members its model does not know, so the `Parameters` keys are
 * checked here first, with the same table the simulator uses (rds/params.ts): an unknown or
 * missing key, or a Tag with a key other than Key/Value, throws an error named like the SDK's
 * (`InvalidParameterValue`, `MissingParameter`). Timestamp members given as ISO strings (JSON has
 * no dates) become Dates. The result is the SDK output without `$metadata`, as Step Functions
 * returns it.
 */
import * as rds from '@aws-sdk/client-rds';
import { Action, ACTIONS, checkParameterNames } from './params';

const PREFIX = 'arn:aws:states:::aws-sdk:rds:';

/** The RDS action of a Task resource (`arn:aws:states:::aws-sdk:rds:restoreDBInstanceToPointInTime`) or an action name. */
export function rdsAction(resourceOrAction: string): Action {
  const name = resourceOrAction.startsWith(PREFIX) ? resourceOrAction.slice(PREFIX.length) : resourceOrAction;
  const action = ACTIONS.find((a) => a.toLowerCase() === name.toLowerCase() && a.slice(1) === name.slice(1));
  if (!action) throw new Error(`${resourceOrAction}: not an RDS action the simulator serves (${ACTIONS.join(', ')})`);
  return action;
}

/** A rejected task: `name` is the RDS error code. */
export class RdsTaskError extends Error {
  constructor(readonly name: string, message: string) {
    super(message);
  }
}

type Schema = readonly [number, string, string, unknown, readonly string[], readonly unknown[], number?];
type Command = new (input: Record<string, unknown>) => Parameters<rds.RDSClient['send']>[0];

/** Checks `parameters` strictly and sends them with `client`; resolves to the output without `$metadata`. */
export async function runRdsTask(client: rds.RDSClient, resourceOrAction: string, parameters: Record<string, unknown>): Promise<Record<string, unknown>> {
  const action = rdsAction(resourceOrAction);
  const rejected = checkParameterNames(action, Object.keys(parameters));
  if (rejected) throw new RdsTaskError(rejected.code, rejected.message);
  const schema = (rds as unknown as Record<string, Schema>)[`${action}Message$`];
  const input: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parameters)) {
    const type = schema[5][schema[4].indexOf(key)];
    if (type === 4 && typeof value === 'string') input[key] = new Date(value);
    else input[key] = value;
    if (key === 'Tags') checkTags(action, value);
  }
  const command = (rds as unknown as Record<string, Command>)[`${action}Command`];
  const result = { ...((await client.send(new command(input))) as unknown as Record<string, unknown>) };
  delete result.$metadata;
  return result;
}

function checkTags(action: Action, tags: unknown): void {
  if (!Array.isArray(tags)) throw new RdsTaskError('InvalidParameterValue', `${action}: Tags must be a list of {Key, Value}`);
  for (const tag of tags) {
    const keys = typeof tag === 'object' && tag !== null ? Object.keys(tag) : [];
    const unknown = keys.find((k) => k !== 'Key' && k !== 'Value');
    if (unknown !== undefined || !keys.includes('Key')) {
      throw new RdsTaskError('InvalidParameterValue', `${action}: each of Tags is {Key, Value}${unknown === undefined ? ' (Key missing)' : `, not ${unknown}`}`);
    }
  }
}
