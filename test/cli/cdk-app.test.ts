/** The CDK app entry (bin/app.ts) refuses a misspelled pgdr context key instead of synthesizing the default configuration. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { misspelledContextKeys } from '../../bin/context-keys';
import { ROOT } from '../support/cli';

let outDir: string;
beforeAll(() => {
  outDir = mkdtempSync(join(tmpdir(), 'pgdr-cdkout-'));
});
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

/** Runs bin/app.ts as the CDK CLI does (context in CDK_CONTEXT_JSON, output in CDK_OUTDIR). */
function app(context: Record<string, unknown>): Promise<{ code: number; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), join(ROOT, 'bin/app.ts')],
      { cwd: ROOT, env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify(context), CDK_OUTDIR: outDir }, timeout: 110_000 },
      (error, _stdout, stderr) => done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
}

test('-c pgrdConfig=... is an error naming the known key, not a synth of the default', async () => {
  const run = await app({ pgrdConfig: 'examples/4-school-admissions.json', '@aws-cdk/core:checkSecretUsage': true });
  expect(run).toEqual({ code: 1, stderr: 'pgdr: unknown context key "pgrdConfig": pgdr reads only "pgdrConfig" (-c pgdrConfig=PATH)\n' });
});

test('which keys look like a misspelling', () => {
  const context = { pgrdConfig: 1, pgdrconfig: 2, 'pgdr-config': 3, PgdrConfigPath: 4, pgdrConfig: 5, '@aws-cdk/aws-s3:x': 6, 'aws:cdk:version-reporting': 7, stage: 8, env: 9 };
  expect(misspelledContextKeys(context, 'pgdrConfig')).toEqual(['pgrdConfig', 'pgdrconfig', 'pgdr-config', 'PgdrConfigPath']);
});
