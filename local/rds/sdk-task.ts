/**
 * Runs a Step Functions AWS SDK integration task (`arn:aws:states:::aws-sdk:rds:<action>` with its
 * `Parameters` object) against the RDS simulator, the way the workflow tests route RDS Tasks.
 *
 * Step Functions speaks the AWS SDK for Java 2.x member names, not the API's: a leading acronym is
 * folded (`DBInstanceIdentifier` → `DbInstanceIdentifier`, `DBInstances[0].DBInstanceStatus` →
 * `DbInstances[0].DbInstanceStatus`) while one inside a name stays (`SourceDBInstanceIdentifier`,
 * `MultiAZ`); errors are `Rds.<Name>Exception` with every acronym folded
 * (`Rds.DbInstanceNotFoundException`, `Rds.InvalidDbInstanceStateException`). So the `Parameters`
 * keys are checked here in that spelling, strictly (the SDK client silently drops members its model
 * does not know), with the simulator's table (rds/params.ts): an unknown or missing key, the API's
 * spelling of a folded name, or a Tag with a key other than Key/Value throws an error named like
 * Step Functions' (`Rds.InvalidParameterValueException`). Timestamp members given as ISO strings
 * (JSON has no dates) become Dates. The result is the SDK output without `$metadata`, renamed the
 * same way and with dates as ISO strings, as Step Functions returns it.
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

/** A rejected task: `name` is the error as Step Functions names it (`Rds.DbInstanceNotFoundException`). */
export class RdsTaskError extends Error {
  constructor(readonly name: string, message: string) {
    super(message);
  }
}

/** The Step Functions (SDK for Java 2.x) name of an API member: a leading acronym folded (`DBInstanceIdentifier` → `DbInstanceIdentifier`). */
export function stepFunctionsMember(name: string): string {
  const run = /^[A-Z]+/.exec(name)?.[0] ?? '';
  if (run.length < 2) return name;
  // The last capital of the run starts the next word when a lower-case letter follows (DBInstance → Db + Instance).
  const keep = run.length < name.length && /[a-z]/.test(name[run.length]) ? run.length - 1 : run.length;
  return name[0] + name.slice(1, keep).toLowerCase() + name.slice(keep);
}

/** The Step Functions error name of an RDS error code: `Rds.` + every acronym folded + `Exception` (`InvalidDBInstanceState` → `Rds.InvalidDbInstanceStateException`). */
export function stepFunctionsError(code: string): string {
  const folded = code.replace(/Fault$/, '').replace(/[A-Z]{2,}(?=[A-Z][a-z]|$|[^A-Za-z])/g, (m) => m[0] + m.slice(1).toLowerCase());
  return `Rds.${folded.endsWith('Exception') ? folded : `${folded}Exception`}`;
}

/** Renames the keys of an SDK output the way Step Functions returns them; dates become ISO strings. */
function toStepFunctions(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(toStepFunctions);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([k]) => k !== '$metadata').map(([k, v]) => [stepFunctionsMember(k), toStepFunctions(v)]));
  }
  return value;
}

type Schema = readonly [number, string, string, unknown, readonly string[], readonly unknown[], number?];
type Command = new (input: Record<string, unknown>) => Parameters<rds.RDSClient['send']>[0];

/** Checks `parameters` (Step Functions spelling) strictly and sends them with `client`; resolves to the output as Step Functions returns it. */
export async function runRdsTask(client: rds.RDSClient, resourceOrAction: string, parameters: Record<string, unknown>): Promise<Record<string, unknown>> {
  const action = rdsAction(resourceOrAction);
  const schema = (rds as unknown as Record<string, Schema>)[`${action}Message$`];
  const byStepFunctionsName = new Map(schema[4].map((m) => [stepFunctionsMember(m), m]));
  const apiNames: string[] = [];
  for (const key of Object.keys(parameters)) {
    const api = byStepFunctionsName.get(key);
    if (api === undefined) {
      const hint = byStepFunctionsName.has(stepFunctionsMember(key)) ? ` (Step Functions spells it ${stepFunctionsMember(key)})` : '';
      throw new RdsTaskError('Rds.InvalidParameterValueException', `unknown parameter ${key} for ${action}${hint}`);
    }
    apiNames.push(api);
  }
  const rejected = checkParameterNames(action, apiNames);
  if (rejected) throw new RdsTaskError(stepFunctionsError(rejected.code), rejected.message.replace(/\b[A-Z][A-Za-z]+\b/g, (w) => (schema[4].includes(w) ? stepFunctionsMember(w) : w)));
  const input: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parameters)) {
    const api = byStepFunctionsName.get(key)!;
    const type = schema[5][schema[4].indexOf(api)];
    input[api] = type === 4 && typeof value === 'string' ? new Date(value) : value;
    if (api === 'Tags') checkTags(action, value);
  }
  const command = (rds as unknown as Record<string, Command>)[`${action}Command`];
  let output: unknown;
  try {
    output = await client.send(new command(input));
  } catch (err) {
    const e = err as { name?: string; Code?: string; message?: string };
    throw new RdsTaskError(stepFunctionsError(e.Code ?? e.name ?? 'RdsException'), e.message ?? String(err));
  }
  return toStepFunctions(output) as Record<string, unknown>;
}

function checkTags(action: Action, tags: unknown): void {
  if (!Array.isArray(tags)) throw new RdsTaskError('Rds.InvalidParameterValueException', `${action}: Tags must be a list of {Key, Value}`);
  for (const tag of tags) {
    const keys = typeof tag === 'object' && tag !== null ? Object.keys(tag) : [];
    const unknown = keys.find((k) => k !== 'Key' && k !== 'Value');
    if (unknown !== undefined || !keys.includes('Key')) {
      throw new RdsTaskError('Rds.InvalidParameterValueException', `${action}: each of Tags is {Key, Value}${unknown === undefined ? ' (Key missing)' : `, not ${unknown}`}`);
    }
  }
}
