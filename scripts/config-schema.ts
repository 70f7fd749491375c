/** Writes pgdr.config.schema.json (the configuration's JSON Schema, generated from the zod model): `npm run schema`. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_SCHEMA_FILE, configJsonSchemaText } from '../lib/config/json-schema';

const path = join(__dirname, '..', CONFIG_SCHEMA_FILE);
writeFileSync(path, configJsonSchemaText());
process.stdout.write(`wrote ${CONFIG_SCHEMA_FILE}\n`);
