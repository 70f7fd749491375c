/**
 * The request rules of the local RDS simulator (pure): which parameters each simulated RDS Query
 * API action knows and requires, and the DB identifier rules.
 *
 * The KNOWN parameter names of an action are the members of its input shape in the RDS API model,
 * read from the `@aws-sdk/client-rds` schema (`<Action>Message$`, generated from that model), so
 * the list is complete for the installed API version. The REQUIRED ones are the model's required
 * members plus the conditional rules of the RDS API reference that the workflow relies on
 * (`REQUIRED` and `conditionalErrors` below).
 */
import * as rds from '@aws-sdk/client-rds';

/** The actions the simulator serves. */
export const ACTIONS = [
  'DescribeDBInstances',
  'CreateDBInstance',
  'RestoreDBInstanceToPointInTime',
  'RestoreDBInstanceFromDBSnapshot',
  'DescribeDBSnapshots',
  'DeleteDBInstance',
  'ModifyDBInstance',
] as const;
export type Action = (typeof ACTIONS)[number];

/** Required members per action (the model's required members, checked against the SDK schema in the tests). */
export const REQUIRED: Readonly<Record<Action, readonly string[]>> = {
  DescribeDBInstances: [],
  CreateDBInstance: ['DBInstanceIdentifier', 'DBInstanceClass', 'Engine'],
  RestoreDBInstanceToPointInTime: ['TargetDBInstanceIdentifier'],
  RestoreDBInstanceFromDBSnapshot: ['DBInstanceIdentifier'],
  DescribeDBSnapshots: [],
  DeleteDBInstance: ['DBInstanceIdentifier'],
  ModifyDBInstance: ['DBInstanceIdentifier'],
};

/** A rejected request: the RDS error code and one clear line. */
export interface RequestError {
  readonly code: string;
  readonly message: string;
}

type Schema = readonly [number, string, string, unknown, readonly string[], unknown, number?];

/** The member names of an action's input shape in the RDS API model (SDK schema). */
export function knownParameters(action: Action): readonly string[] {
  const schema = (rds as unknown as Record<string, Schema | undefined>)[`${action}Message$`];
  if (!schema || !Array.isArray(schema[4])) throw new Error(`no input schema for ${action} in @aws-sdk/client-rds`);
  return schema[4];
}

/** The model's required member count of an action's input shape (the first N members). */
export function modelRequired(action: Action): readonly string[] {
  const schema = (rds as unknown as Record<string, Schema>)[`${action}Message$`];
  return schema[4].slice(0, schema[6] ?? 0);
}

/** The top-level parameter of a Query API key: `Tags.Tag.1.Key` → `Tags`. */
export function topLevel(key: string): string {
  const dot = key.indexOf('.');
  return dot < 0 ? key : key.slice(0, dot);
}

/**
 * Checks the top-level parameter names of a request (Query form keys without Action/Version, or
 * the keys of a Step Functions `Parameters` object): unknown names and missing required ones are
 * rejected with InvalidParameterValue / MissingParameter.
 */
export function checkParameterNames(action: Action, keys: Iterable<string>): RequestError | undefined {
  const known = new Set(knownParameters(action));
  const present = new Set<string>();
  for (const key of keys) {
    const name = topLevel(key);
    if (!known.has(name)) return { code: 'InvalidParameterValue', message: `unknown parameter ${name} for ${action}` };
    present.add(name);
  }
  for (const name of REQUIRED[action]) {
    if (!present.has(name)) return { code: 'MissingParameter', message: `${action} requires the parameter ${name}` };
  }
  return undefined;
}

/**
 * The DB instance identifier rules: 1 to 63 letters, digits or hyphens; first a letter; no two
 * consecutive hyphens; no trailing hyphen.
 */
export function identifierError(param: string, value: string): RequestError | undefined {
  const ok = value.length >= 1 && value.length <= 63 && /^[A-Za-z][A-Za-z0-9-]*$/.test(value) && !value.includes('--') && !value.endsWith('-');
  if (ok) return undefined;
  return {
    code: 'InvalidParameterValue',
    message: `${param} ${JSON.stringify(value)} is not a valid identifier: 1-63 letters, digits or hyphens, first a letter, no two consecutive hyphens, no trailing hyphen`,
  };
}

/** Parses a Query API boolean (`true`/`false`); anything else is an error. */
export function parseBool(param: string, value: string | undefined): boolean | undefined | RequestError {
  if (value === undefined) return undefined;
  if (value === 'true') return true;
  if (value === 'false') return false;
  return { code: 'InvalidParameterValue', message: `${param} must be true or false, got ${JSON.stringify(value)}` };
}

/** Indexed list members of a Query form: `Tags.Tag.1.Key`/`.Value` → [{Key, Value}]. */
export function tagsOf(form: ReadonlyMap<string, string>): { Key: string; Value: string }[] {
  const tags: { Key: string; Value: string }[] = [];
  for (let i = 1; form.has(`Tags.Tag.${i}.Key`); i++) {
    tags.push({ Key: form.get(`Tags.Tag.${i}.Key`) ?? '', Value: form.get(`Tags.Tag.${i}.Value`) ?? '' });
  }
  return tags;
}
