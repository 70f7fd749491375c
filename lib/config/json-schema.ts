/**
 * The JSON Schema of a pgdr configuration file, generated from the zod model (schema.ts), never
 * written by hand: `npm run schema` writes it to pgdr.config.schema.json, which the default
 * configuration and the examples reference with `"$schema"` so that an editor completes and checks
 * fields. It describes what a file may contain (zod's input side: durations are strings, defaults
 * are optional); rules that relate fields (rules.ts) and checks that read files or clocks are not
 * expressible in JSON Schema and stay with `loadConfig`.
 */
import { z } from 'zod';
import { configSchema } from './schema';

/** File name of the generated schema, at the repository root. */
export const CONFIG_SCHEMA_FILE = 'pgdr.config.schema.json';

/** The configuration's JSON Schema (draft-07: what editors support best). */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: 'input', target: 'draft-7', unrepresentable: 'any' }) as Record<string, unknown>;
  return { ...schema, title: 'pgdr configuration', description: 'Databases, recovery objectives, backup classes, verification, failover and paging of a pgdr deployment (lib/config/schema.ts).' };
}

/** The schema file's text: stable formatting and a final newline. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
