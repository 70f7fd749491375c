/**
 * The configuration's JSON Schema (pgdr.config.schema.json): generated from the zod model, committed,
 * referenced by `$schema` in every shipped configuration, and a real check in an editor — a JSON
 * Schema validator accepts every shipped configuration and rejects misspelled keys and wrong types.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { CONFIG_SCHEMA_FILE, configJsonSchema, configJsonSchemaText } from '../../lib/config/json-schema';
import { parseConfig } from '../../lib/config';
import { SHIPPED_CONFIGS } from '../infra/synth';

const root = join(__dirname, '..', '..');
const read = (path: string) => JSON.parse(readFileSync(join(root, path), 'utf8')) as Record<string, any>;
const schema = configJsonSchema();
const validate = new Ajv({ allErrors: true }).compile(schema);

describe('pgdr.config.schema.json', () => {
  it('is the schema generated from the zod model (run `npm run schema` after changing lib/config/schema.ts)', () => {
    const committed = readFileSync(join(root, CONFIG_SCHEMA_FILE), 'utf8');
    const upToDate = committed === configJsonSchemaText();
    if (!upToDate) throw new Error(`${CONFIG_SCHEMA_FILE} is out of date: run \`npm run schema\` and commit it`);
    expect(upToDate).toBe(true);
  });

  it.each(SHIPPED_CONFIGS)('%s references it as its first key and validates against it', (path) => {
    const config = read(path);
    expect(Object.keys(config)[0]).toBe('$schema');
    expect(config.$schema).toBe(path.includes('/') ? `../${CONFIG_SCHEMA_FILE}` : `./${CONFIG_SCHEMA_FILE}`);
    const ok = validate(config);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
    // ... and the loader accepts the same file, $schema and all.
    expect(parseConfig(config, path).databases.length).toBeGreaterThan(0);
  });

  const broken: Array<[string, (c: Record<string, any>) => void, string]> = [
    ['a misspelled top-level key', (c) => (c.stackname = 'Pgdr'), 'additionalProperties'],
    ['a misspelled database key', (c) => (c.databases[0].backupClass = c.databases[0].backupClasses), 'additionalProperties'],
    ['a misspelled schedule key', (c) => (c.databases[0].backupClasses[0].schedule.timezone = 'UTC'), 'additionalProperties'],
    ['a number where a duration string goes', (c) => (c.databases[0].rpo = 86400), 'type'],
    ['a string where a whole number goes', (c) => (c.databases[0].source.engineMajorVersion = '15'), 'type'],
    ['an unknown source type', (c) => (c.databases[0].source.type = 'aurora'), ''],
    ['a database without an rto', (c) => delete c.databases[0].rto, 'required'],
  ];
  it.each(broken)('rejects %s', (_what, mutate, keyword) => {
    const config = read('pgdr.config.json');
    mutate(config);
    expect(validate(config)).toBe(false);
    if (keyword) expect(validate.errors?.map((e) => e.keyword)).toContain(keyword);
    // The loader rejects it as well: the schema is no looser than the model on these.
    expect(() => parseConfig(config, 'broken.json')).toThrow();
  });

  it('carries the model descriptions of the main fields, for editor hovers', () => {
    const properties = schema.properties as Record<string, any>;
    expect(properties.databases.description).toMatch(/protected databases/);
    const database = properties.databases.items.properties;
    expect(database.rpo.description).toMatch(/Recovery point objective/);
    expect(database.rto.description).toMatch(/Recovery time objective/);
    expect(database.backupClasses.items.properties.schedule.description).toMatch(/When dumps/);
  });
});
