/**
 * Bundles the CLI (cli/main.ts) with esbuild into build/cli/pgdr.js (+ pgdr.js.map), which
 * bin/pgdr.js runs when it is not older than its inputs (build/cli/inputs.json lists them):
 *
 *   npm run build:cli        (also run by `npm ci` / `npm install`: the `prepare` script)
 *
 * What a command loads lazily stays lazy: a `require('./x')` of a literal path inside a function
 * becomes the call of that module's initializer in the bundle. Left outside the bundle:
 *   - the project files under lib/ that import aws-cdk-lib or constructs, and any project file
 *     that reads files through `__dirname` (lib/synthesize.ts reads cdk.json, the constructs the
 *     Lambda entry paths): each is replaced by a stand-in that loads it from the sources through
 *     tsx (cli/project.ts loadSource) when the bundle first needs it;
 *   - tsx and esbuild themselves, and pg's optional native binding.
 * The build fails if anything in the bundle still imports aws-cdk-lib or constructs.
 *
 * One dependency is patched in the bundle (`nodeOnlyPg`): pg asks at load whether it runs in a
 * Cloudflare Worker, and where `navigator` is not defined (Node 20) it finds out by constructing a
 * fetch `Response`, which loads undici: ~40 ms of every CLI start (the Lambda runtime, Node 24, has
 * `navigator` and answers at once). The CLI runs on Node only, so the question is answered `false`.
 * The build fails if pg's code no longer has that call.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { build, Plugin } from 'esbuild';

const ROOT = resolve(__dirname, '..');
/** The bundle bin/pgdr.js runs, its source map and the list of its project inputs (paths relative to the project root). */
export const BUNDLE = join(ROOT, 'build', 'cli', 'pgdr.js');
export const BUNDLE_INPUTS = join(ROOT, 'build', 'cli', 'inputs.json');
/**
 * The text around the bundle: what node's own `Module.wrap` puts around a CommonJS module, so the
 * bundle file evaluates to the module function (call it with exports, require, module, __filename,
 * __dirname). bin/pgdr.js compiles the file as it was read: wrapping the 5 MiB text at every start
 * made V8 copy it once more into a flat string (~1,350 more pages touched before any work, each
 * first touch 16-23 us on this VM). bin/pgdr.js rebuilds a bundle older than this script, so it
 * never meets one built without the wrapper.
 */
export const BUNDLE_WRAPPER = { head: '(function (exports, require, module, __filename, __dirname) {', tail: '\n})' } as const;

/** The one project file allowed to use `__dirname` inside the bundle: it knows where it runs from. */
const PROJECT_MODULE = join(ROOT, 'cli', 'project.ts');
const CDK_IMPORT = /^\s*import\s+(?!type\s)[^;]*?from\s+'(aws-cdk-lib|constructs)(\/[^']*)?'/m;
const EXTERNAL_PACKAGES = ['aws-cdk-lib', 'constructs', 'tsx', 'esbuild', 'pg-native'];

export interface CliBuild {
  /** The bundle's path. */
  readonly bundle: string;
  /** Project files in the bundle (relative to the project root). */
  readonly inputs: string[];
  /** Project files the bundle loads from the sources through tsx (relative to the project root). */
  readonly sourceLoaded: string[];
  readonly bytes: number;
}

/** Whether the project file `file` must stay outside the bundle (see the header). */
export function staysOutside(file: string, text: string): boolean {
  if (file === PROJECT_MODULE) return false;
  return CDK_IMPORT.test(text) || /\b__dirname\b/.test(text);
}

/** The .ts file a relative import names, if it is one. */
function tsFile(resolveDir: string, spec: string): string | undefined {
  const base = resolve(resolveDir, spec);
  return [base, `${base}.ts`, join(base, 'index.ts')].find((f) => f.endsWith('.ts') && existsSync(f) && statSync(f).isFile());
}

/** Replaces each project file that stays outside by `module.exports = loadSource(path)`. */
function sourceLoadedPlugin(sourceLoaded: Set<string>): Plugin {
  return {
    name: 'pgdr-source-loaded',
    setup(b) {
      b.onResolve({ filter: /^\.\.?\// }, (args) => {
        if (args.namespace !== 'file' || args.importer.includes(`${sep}node_modules${sep}`)) return undefined;
        const file = tsFile(args.resolveDir, args.path);
        if (!file || !file.startsWith(ROOT + sep) || !staysOutside(file, readFileSync(file, 'utf8'))) return undefined;
        const path = relative(ROOT, file).split(sep).join('/');
        sourceLoaded.add(path);
        return { path, namespace: 'pgdr-source' };
      });
      b.onLoad({ filter: /.*/, namespace: 'pgdr-source' }, (args) => ({
        contents: `module.exports = require(${JSON.stringify(PROJECT_MODULE)}).loadSource(${JSON.stringify(args.path)});\n`,
        loader: 'js',
        resolveDir: ROOT,
      }));
    },
  };
}

/** pg's `isCloudflareRuntime()` call, answered `false` in the bundle (see the header). */
const PG_CLOUDFLARE_CHECK = 'if (isCloudflareRuntime()) {';

function nodeOnlyPg(): Plugin {
  return {
    name: 'pgdr-node-only-pg',
    setup(b) {
      b.onLoad({ filter: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/ }, (args) => {
        const text = readFileSync(args.path, 'utf8');
        if (!text.includes(PG_CLOUDFLARE_CHECK)) throw new Error(`${relative(ROOT, args.path)} no longer calls isCloudflareRuntime() as scripts/build-cli.ts expects; update nodeOnlyPg`);
        return { contents: text.replace(PG_CLOUDFLARE_CHECK, 'if (false) {'), loader: 'js' };
      });
    },
  };
}

/** Writes `data` to `path` through a temporary file and a rename (another pgdr may build at the same time). */
function writeAtomically(path: string, data: Uint8Array | string, mtime?: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  if (mtime) utimesSync(tmp, mtime, mtime);
  renameSync(tmp, path);
}

/** Builds the bundle; rejects naming the file if the bundle would still import aws-cdk-lib or constructs. */
export async function buildCli(): Promise<CliBuild> {
  // The bundle's time is the build's start: a source saved during the build makes it stale.
  const started = (performance.timeOrigin + performance.now()) / 1000;
  const sourceLoaded = new Set<string>();
  const result = await build({
    entryPoints: [join(ROOT, 'cli', 'main.ts')],
    outfile: BUNDLE,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: true,
    sourcesContent: false,
    minifySyntax: true,
    minifyWhitespace: true,
    legalComments: 'none',
    // The bundle is the body of a CommonJS module function already (bin/pgdr.js compiles it as it
    // is and calls what it evaluates to); see BUNDLE_WRAPPER.
    banner: { js: BUNDLE_WRAPPER.head },
    footer: { js: BUNDLE_WRAPPER.tail },
    external: EXTERNAL_PACKAGES,
    define: { PGDR_BUNDLE: 'true' },
    plugins: [sourceLoadedPlugin(sourceLoaded), nodeOnlyPg()],
    metafile: true,
    write: false,
    logLevel: 'silent',
    absWorkingDir: ROOT,
  });
  const meta = result.metafile;
  const importers = Object.entries(meta.inputs).filter(([, input]) => input.imports.some((i) => i.external && /^(aws-cdk-lib|constructs)(\/|$)/.test(i.path)));
  if (importers.length > 0) {
    throw new Error(`the CLI bundle would load aws-cdk-lib: ${importers.map(([f]) => f).join(', ')} (import it only from a file scripts/build-cli.ts leaves outside)`);
  }
  const inputs = Object.keys(meta.inputs)
    .filter((f) => !f.includes('node_modules/') && !f.startsWith('pgdr-source:'))
    .sort();
  mkdirSync(dirname(BUNDLE), { recursive: true });
  let bytes = 0;
  const js = result.outputFiles.find((f) => f.path === BUNDLE);
  if (!js) throw new Error(`esbuild wrote no ${BUNDLE}`);
  for (const file of result.outputFiles) if (file !== js) writeAtomically(file.path, file.contents);
  writeAtomically(BUNDLE_INPUTS, `${JSON.stringify({ inputs, sourceLoaded: [...sourceLoaded].sort() }, null, 1)}\n`);
  writeAtomically(BUNDLE, js.contents, started);
  // The code caches of the previous bundle (bin/pgdr.js) are named after it: no use any more.
  rmSync(join(dirname(BUNDLE), 'code-cache'), { recursive: true, force: true });
  bytes = js.contents.byteLength;
  return { bundle: BUNDLE, inputs, sourceLoaded: [...sourceLoaded].sort(), bytes };
}

if (require.main === module) {
  buildCli().then(
    (built) => console.error(`build-cli: ${relative(process.cwd(), built.bundle)} (${(built.bytes / 1048576).toFixed(1)} MiB, ${built.inputs.length} project files; from the sources: ${built.sourceLoaded.join(', ') || 'none'})`),
    (err: unknown) => {
      console.error(`build-cli: ${(err as Error).message}`);
      process.exitCode = 1;
    },
  );
}
