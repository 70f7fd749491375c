import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { addPgdr } from '../../lib/app';
import { loadConfig } from '../../lib/config';
import { TEST_CONTEXT } from './synth';

/**
 * A real synthesis with asset bundling on (as `cdk synth` does it): esbuild bundles each handler
 * into one file that Node can load, with no Docker.
 */
it('bundles every handler (dump, verify, restore, monitor, and the failover\'s validate, preflight, cutover, report) into loadable single files', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'pgdr-bundle-'));
  try {
    const context = { ...TEST_CONTEXT };
    delete context['aws:cdk:bundling-stacks'];
    const app = new App({ outdir, context });
    const stack = addPgdr(app, loadConfig('pgdr.config.json'));
    app.synth();

    const template = JSON.parse(readFileSync(join(outdir, `${stack.artifactId}.template.json`), 'utf8'));
    const jobFunctions = Object.values(template.Resources as Record<string, any>).filter(
      (r) => r.Type === 'AWS::Lambda::Function' && /^pgdr(: failover | (dump|verify|restore|monitor|failover\/validate) job)/.test(r.Properties.Description ?? ''),
    );
    // dump, verify, restore, validate, monitor per database (one here), and the three control functions of the failover.
    expect(jobFunctions).toHaveLength(8);
    for (const fn of jobFunctions) {
      const assetHash = String(fn.Properties.Code.S3Key).replace(/\.zip$/, '');
      const bundle = join(outdir, `asset.${assetHash}`, 'index.js');
      expect(existsSync(bundle)).toBe(true);
      expect(statSync(bundle).size).toBeGreaterThan(10_000);
      // Loading the bundle resolves every import; the handler must be exported.
      const exported = execFileSync(process.execPath, ['-e', `console.log(typeof require(${JSON.stringify(bundle)}).handler)`], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '' },
      });
      expect(exported.trim()).toBe('function');
    }
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
});
