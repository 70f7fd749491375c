/** Reads, parses and validates a pgdr configuration file into one typed object or one clear error. */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { crossFieldIssues, RuleIssue } from './rules';
import { configSchema, PgdrConfig } from './schema';

/** The default configuration file, relative to the working directory. */
export const DEFAULT_CONFIG_PATH = 'pgdr.config.json';

/** A configuration that cannot be used; `issues` holds one line per broken rule. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly issues: string[],
  ) {
    super(issues.length === 1 ? `${source}: ${issues[0]}` : `${source}: ${issues.length} problems\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Validates an already-parsed JSON value; `source` names it in errors. */
export function parseConfig(raw: unknown, source = 'config'): PgdrConfig {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    // Report the rules that relate fields too, for the parts that are well-formed: all problems at once.
    const schemaIssues = result.error.issues.map((issue) => describeZodIssue(issue, raw));
    const ruleIssues = (partialRuleIssues(raw) ?? []).map((issue) => describeRuleIssue(issue, raw));
    throw new ConfigError(source, [...schemaIssues, ...ruleIssues.filter((i) => !schemaIssues.includes(i))]);
  }
  const issues = crossFieldIssues(result.data);
  if (issues.length > 0) throw new ConfigError(source, issues.map((issue) => describeRuleIssue(issue, raw)));
  return result.data;
}

/**
 * The cross-field rule issues of the well-formed part of a configuration that fails the schema:
 * the databases that parse on their own (paths keep their original index), with the top-level
 * sections the rules read. Undefined when those sections themselves are malformed.
 */
function partialRuleIssues(raw: unknown): RuleIssue[] | undefined {
  if (raw === null || typeof raw !== 'object' || !Array.isArray((raw as { databases?: unknown }).databases)) return undefined;
  const doc = raw as Record<string, unknown> & { databases: unknown[] };
  const shape = configSchema.shape;
  const original: number[] = [];
  const wellFormed: unknown[] = [];
  doc.databases.forEach((entry, i) => {
    if (shape.databases.element.safeParse(entry).success) {
      original.push(i);
      wellFormed.push(entry);
    }
  });
  if (wellFormed.length === 0) return [];
  const partial = configSchema.safeParse({ databases: wellFormed, pgTools: doc.pgTools });
  if (!partial.success) return undefined;
  const remap = (index: number) => original[index] ?? index;
  return crossFieldIssues(partial.data).map((issue) => ({
    path: issue.path[0] === 'databases' && typeof issue.path[1] === 'number' ? ['databases', remap(issue.path[1]), ...issue.path.slice(2)] : issue.path,
    message: issue.message.replace(/databases\[(\d+)\]/g, (_m, n: string) => `databases[${remap(Number(n))}]`),
  }));
}

/** Reads and validates a configuration file. */
export function loadConfig(path: string = DEFAULT_CONFIG_PATH): PgdrConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [`cannot read the configuration file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(path, [`is not valid JSON: ${(err as Error).message}`]);
  }
  return parseConfig(raw, path);
}

/** "databases[0].backupClasses[1].name" */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join('');
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = raw;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

function received(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function describeZodIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys
      .map((key) => `${formatPath([...issue.path, key])}: unknown key (check the spelling; allowed keys are listed in the README)`)
      .join('; ');
  }
  const value = valueAt(raw, issue.path);
  if (value === undefined && issue.code === 'invalid_type') {
    return `${formatPath(issue.path)}: is required (expected ${issue.expected})`;
  }
  return `${formatPath(issue.path)}: ${issue.message} (received ${received(value)})`;
}

function describeRuleIssue(issue: RuleIssue, raw: unknown): string {
  return `${formatPath(issue.path)}: ${issue.message} (received ${received(valueAt(raw, issue.path))})`;
}
