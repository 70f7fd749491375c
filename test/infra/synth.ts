/** Test helper: synthesizes the pgdr app for a configuration file into a temp dir and returns what tests assert on. */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { addPgdr } from '../../lib/app';
import { loadConfig, PgdrConfig } from '../../lib/config';
import type { PgdrStack } from '../../lib/pgdr-stack';

export interface NagViolation {
  readonly rule: string;
  readonly path: string;
}

export interface Synthesized {
  readonly stack: PgdrStack;
  readonly template: Template;
  /** Unacknowledged cdk-nag findings (empty when clean). */
  readonly violations: NagViolation[];
}

/** Every configuration the project ships: the default one and one per scenario. */
export const SHIPPED_CONFIGS = [
  'pgdr.config.json',
  'examples/1-ticketing-club.json',
  'examples/2-retail-inventory.json',
  'examples/3-clinic-booking.json',
  'examples/4-school-admissions.json',
  'examples/5-event-platform.json',
];

/**
 * The app context of a real `cdk synth` (the feature flags of cdk.json), plus a switch that keeps
 * synthesis offline and Docker-free in tests (no asset bundling that needs Docker).
 */
export const TEST_CONTEXT: Record<string, unknown> = {
  ...JSON.parse(readFileSync(join(__dirname, '..', '..', 'cdk.json'), 'utf8')).context,
  'aws:cdk:bundling-stacks': [],
};

/**
 * Synthesizes a configuration file (or an already validated configuration) once, with every cdk-nag
 * pack of the app. `extend` may add constructs to the stack before synthesis (to prove the checks
 * catch findings).
 */
export function synthConfig(config: string | PgdrConfig, extend?: (stack: PgdrStack) => void): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), 'pgdr-synth-'));
  const app = new App({ outdir, context: TEST_CONTEXT });
  const stack = addPgdr(app, typeof config === 'string' ? loadConfig(config) : config);
  extend?.(stack);
  let violations: NagViolation[] = [];
  try {
    app.synth();
  } catch (err) {
    const report = join(outdir, 'validation-report.json');
    if (!existsSync(report)) throw err;
    violations = readViolations(report);
    if (violations.length === 0) throw err;
  }
  const template = Template.fromJSON(JSON.parse(readFileSync(join(outdir, `${stack.artifactId}.template.json`), 'utf8')));
  return { stack, template, violations };
}

function readViolations(path: string): NagViolation[] {
  const report = JSON.parse(readFileSync(path, 'utf8')) as {
    pluginReports: { violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[] }[];
  };
  return report.pluginReports.flatMap((p) => p.violations.flatMap((v) => v.violatingConstructs.map((c) => ({ rule: v.ruleName, path: c.constructPath }))));
}
