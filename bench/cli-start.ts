/**
 * The CLI start-up figures of the speed section alone (issue 9), without building the mixed
 * database: `pgdr backup --local` of an empty database (cliStartSeconds) and `pgdr --help`, run
 * exactly as bench/speed.ts runs them (cliRunner), interleaved, median and range of --reps.
 *
 *   npx tsx bench/cli-start.ts [--reps N] [--before DIR]
 *
 * --before DIR: also another checkout of pgdr (e.g. a clone at an older commit, its node_modules
 * linked), each of its figures interleaved with this one's. Prints one JSON line per checkout:
 * { project, cliStartSeconds, cliHelpSeconds, runs, load } (load: /proc/loadavg at the start and
 * at the end; the machine may be shared). Stops the cluster it starts by PID.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PG_BIN, PgCluster } from '../local/pg-cluster';
import { cliRunner, stats } from './speed';

const PROJECT = join(__dirname, '..');

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { reps: { type: 'string', default: '7' }, before: { type: 'string' } } });
  const reps = Number(values.reps);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps takes a whole number ≥ 1 (received ${JSON.stringify(values.reps)})`);
  const work = mkdtempSync(join(tmpdir(), 'pgdr-bench-cli-'));
  const pg = await PgCluster.start();
  try {
    await pg.createDatabase('empty');
    const projects = [PROJECT, ...(values.before ? [resolve(values.before)] : [])];
    const runners = projects.map((project, i) => ({ project, ...cliRunner(pg, join(work, `cli-${i}`), project), empty: [] as number[], help: [] as number[] }));
    const loadStart = readFileSync('/proc/loadavg', 'utf8').trim();
    for (let rep = 1; rep <= reps; rep++) {
      for (const r of runners) {
        r.empty.push(await r.cli(`backup empty --local --source-url '${r.sourceUrl('empty')}' --pg-bin '${PG_BIN}' --json`));
        r.help.push(await r.cli('--help'));
      }
    }
    const round = (v: number) => Math.round(v * 1000) / 1000;
    const figure = (values: number[]) => {
      const s = stats(values);
      return { median: round(s.median), min: round(s.min), max: round(s.max) };
    };
    const load = { start: loadStart, end: readFileSync('/proc/loadavg', 'utf8').trim() };
    for (const r of runners) {
      console.log(JSON.stringify({ project: r.project, cliStartSeconds: figure(r.empty), cliHelpSeconds: figure(r.help), runs: { empty: r.empty.map(round), help: r.help.map(round) }, load }));
    }
  } finally {
    await pg.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`cli-start: ${(err as Error).message}`);
  process.exitCode = 1;
});
