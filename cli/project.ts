/**
 * Where the CLI runs from: the sources (cli/*.ts through tsx) or the bundle build/cli/pgdr.js
 * (scripts/build-cli.ts defines PGDR_BUNDLE there), and the modules the bundle leaves outside:
 * the CDK constructs under lib/ (aws-cdk-lib; they read files through `__dirname`), loaded from
 * the sources through tsx when a command first needs them.
 */
import { join } from 'node:path';

declare const PGDR_BUNDLE: boolean | undefined;

/** True in the bundle, false when the sources run through tsx (or ts-jest). */
export const BUNDLED = typeof PGDR_BUNDLE !== 'undefined' && PGDR_BUNDLE === true;

/** The project's root directory (package.json, cdk.json, lib/): cli/.. from the sources, build/cli/../.. from the bundle. */
export const PROJECT_ROOT = BUNDLED ? join(__dirname, '..', '..') : join(__dirname, '..');

let tsxRegistered = false;

/**
 * The source module `path` (relative to the project root, e.g. 'lib/synthesize.ts') loaded through
 * tsx: the bundle's stand-in for the modules it leaves outside (scripts/build-cli.ts).
 */
export function loadSource<T>(path: string): T {
  if (BUNDLED && !tsxRegistered) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- tsx's CommonJS hook, registered only when a source module is needed
    (require('tsx/cjs/api') as { register: () => void }).register();
    tsxRegistered = true;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a path known at run time only
  return require(join(PROJECT_ROOT, path)) as T;
}
