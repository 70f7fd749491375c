/** Test helper: synthesizes the pgdr app for a configuration file into a temp dir and returns what tests assert on. */
import { Template } from 'aws-cdk-lib/assertions';
import type { PgdrConfig } from '../../lib/config';
import type { PgdrStack } from '../../lib/pgdr-stack';
import { NagViolation, synthesize, SYNTH_CONTEXT } from '../../lib/synthesize';

export type { NagViolation };

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

/** The app context of a real `cdk synth`, offline and Docker-free (see lib/synthesize.ts). */
export const TEST_CONTEXT = SYNTH_CONTEXT;

/** {@link synthesize}, with the template wrapped for assertions. */
export function synthConfig(config: string | PgdrConfig, extend?: (stack: PgdrStack) => void): Synthesized {
  const { stack, template, violations } = synthesize(config, extend);
  return { stack, template: Template.fromJSON(template as unknown as Record<string, unknown>), violations };
}
