/**
 * The bundled CLI (scripts/build-cli.ts, bin/pgdr.js): `pgdr --help` from the bundle lists every
 * command; `pgdr runbook --local` from the bundle loads the CDK synthesizer from the sources; in a
 * copy of the project, bin/pgdr.js builds the bundle when there is none, rebuilds it when a source
 * is newer, keeps the V8 code cache a backup or a verify wrote (the upload and the download turn
 * on V8 flags during the run, which made V8 reject that cache at every next start), and runs the
 * sources through tsx (one line on stderr) when it cannot build.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram, EXIT_CODES_HELP } from '../../cli/main';
import { buildCli, BUNDLE, BUNDLE_WRAPPER } from '../../scripts/build-cli';
import { PgCluster } from '../../local/pg-cluster';
import { CliRun, cliEnv, ROOT } from '../support/cli';

/** Runs `node script args...` in `cwd` to completion. */
function runNode(script: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return new Promise((done) => {
    execFile(process.execPath, [script, ...args], { cwd, env: cliEnv(join(cwd, '.pgdr'), env), timeout: 110_000 }, (error, stdout, stderr) =>
      done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('the bundle of this project', () => {
  let entry: string;
  beforeAll(async () => {
    await buildCli();
    // A script that runs the bundle itself (not bin/pgdr.js, which could fall back to the sources).
    const dir = mkdtempSync(join(tmpdir(), 'pgdr-bundle-'));
    entry = join(dir, 'run-bundle.js');
    // The file is the text of a CommonJS module function (BUNDLE_WRAPPER): evaluated, then called as node calls a module.
    writeFileSync(
      entry,
      `const file = ${JSON.stringify(BUNDLE)}; const m = { exports: {} };
require('node:vm').runInThisContext(require('node:fs').readFileSync(file, 'latin1'), { filename: file })(m.exports, require('node:module').createRequire(file), m, file, require('node:path').dirname(file));
m.exports.run(process.argv).then((code) => { process.exitCode = code; });\n`,
    );
  });
  afterAll(() => rmSync(join(entry, '..'), { recursive: true, force: true }));

  it('is the text of a CommonJS module function, so bin/pgdr.js compiles it without copying it into a wrapper', () => {
    const text = readFileSync(BUNDLE, 'latin1');
    expect(text.startsWith(BUNDLE_WRAPPER.head)).toBe(true);
    // The wrapper's tail, then only esbuild's source map comment.
    expect(text).toMatch(/\n\}\)\n(\/\/# sourceMappingURL=pgdr\.js\.map\n)?$/);
    expect(BUNDLE_WRAPPER.tail).toBe('\n})');
  });

  it('pgdr --help lists every command, and the exit codes', async () => {
    const run = await runNode(entry, ['--help'], ROOT);
    expect(run.code).toBe(0);
    const commands = buildProgram().commands.map((c) => c.name());
    expect(commands).toEqual(expect.arrayContaining(['status', 'backup', 'verify', 'failover', 'approve', 'reject', 'drill', 'runbook']));
    for (const name of commands) expect(run.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    expect(run.stdout).toContain(EXIT_CODES_HELP.trim().split('\n')[0]);
  });

  it('pgdr runbook --local loads the synthesizer (aws-cdk-lib, left outside the bundle) from the sources', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgdr-bundle-runbook-'));
    try {
      const out = join(dir, 'RUNBOOK.md');
      const run = await runNode(entry, ['runbook', '--local', '--config', join(ROOT, 'pgdr.config.json'), '--out', out], ROOT);
      expect(run).toMatchObject({ code: 0, stderr: '' });
      expect(readFileSync(out, 'utf8')).toMatch(/shop/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bin/pgdr.js in a copy of the project', () => {
  let project: string;
  const bundle = () => join(project, 'build', 'cli', 'pgdr.js');
  const pgdr = (args: string[]) => runNode(join(project, 'bin', 'pgdr.js'), args, project);

  beforeAll(() => {
    project = mkdtempSync(join(tmpdir(), 'pgdr-bundle-project-'));
    for (const entry of ['bin', 'cli', 'lambda', 'local', 'lib', 'scripts', 'package.json', 'cdk.json', 'tsconfig.json']) {
      cpSync(join(ROOT, entry), join(project, entry), { recursive: true });
    }
    symlinkSync(join(ROOT, 'node_modules'), join(project, 'node_modules'));
  });
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  it('builds the bundle when there is none, and rebuilds it when a source is newer', async () => {
    const first = await pgdr(['--help']);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(existsSync(bundle())).toBe(true);
    const builtAt = statSync(bundle()).mtimeMs;

    // Unchanged sources: the same bundle runs.
    expect(await pgdr(['--version'])).toMatchObject({ code: 0, stderr: '' });
    expect(statSync(bundle()).mtimeMs).toBe(builtAt);

    // A newer source: rebuilt, and the change shows.
    const main = join(project, 'cli', 'main.ts');
    writeFileSync(main, readFileSync(main, 'utf8').replace("'Disaster recovery for PostgreSQL:", "'Disaster recovery for PostgreSQL (rebuilt):"));
    const later = new Date(builtAt + 2000);
    utimesSync(main, later, later);
    const second = await pgdr(['--help']);
    expect(second).toMatchObject({ code: 0, stderr: '' });
    expect(second.stdout).toContain('Disaster recovery for PostgreSQL (rebuilt):');
    expect(statSync(bundle()).mtimeMs).toBeGreaterThan(builtAt);
    expect(readFileSync(bundle(), 'utf8')).toContain('(rebuilt):');

    // A newer build script (it decides the bundle's form, e.g. BUNDLE_WRAPPER): rebuilt too.
    const rebuiltAt = statSync(bundle()).mtimeMs;
    const script = join(project, 'scripts', 'build-cli.ts');
    const newer = new Date(rebuiltAt + 2000);
    utimesSync(script, newer, newer);
    expect(await pgdr(['--version'])).toMatchObject({ code: 0, stderr: '' });
    expect(statSync(bundle()).mtimeMs).toBeGreaterThan(rebuiltAt);
    expect(readFileSync(bundle(), 'latin1').startsWith(BUNDLE_WRAPPER.head)).toBe(true);
  });

  it("a backup's and a verify's code cache are accepted by the next run of the command (written once, not rejected and rewritten)", async () => {
    const pg = await PgCluster.start();
    try {
      // Over one 8 MiB part uncompressed: the upload runs its per-part collection (--expose-gc);
      // the verify reads the dump back, which sets the heap growth (lambda/shared/heap-growth.ts).
      await pg.createDatabase('cached');
      await pg.sql('cached', `CREATE TABLE t AS SELECT i, repeat(md5(i::text), 4) AS s FROM generate_series(1, 80000) i`);
      const source = ['cached', '--local', '--source-url', pg.url('cached')];
      const cacheFile = (command: string) => {
        const dir = join(project, 'build', 'cli', 'code-cache');
        const names = existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(`${command}-`)) : [];
        return names.length === 1 ? statSync(join(dir, names[0]), { bigint: true }) : undefined;
      };
      for (const args of [['backup', ...source, '--compression', 'none'], ['verify', ...source]]) {
        expect(await pgdr(args)).toMatchObject({ code: 0, stderr: '' });
        const written = cacheFile(args[0]);
        expect(written).toBeDefined();
        expect(await pgdr(args)).toMatchObject({ code: 0, stderr: '' });
        const after = cacheFile(args[0]);
        expect(after?.ino).toBe(written?.ino);
        expect(after?.mtimeNs).toBe(written?.mtimeNs);
      }
    } finally {
      await pg.stop();
    }
  });

  it('runs the sources through tsx, saying so in one line on stderr, when the bundle cannot be built', async () => {
    rmSync(join(project, 'build'), { recursive: true, force: true });
    writeFileSync(join(project, 'scripts', 'build-cli.ts'), "export function buildCli(): never {\n  throw new Error('esbuild is not installed');\n}\n");
    const run = await pgdr(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^ {2}backup /m);
    expect(run.stderr).toBe('pgdr: cannot build the CLI bundle (esbuild is not installed); running the sources through tsx\n');
    expect(existsSync(bundle())).toBe(false);
  });
});
