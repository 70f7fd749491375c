/**
 * The CLI start-up figures of the speed section alone (issue 9), without building the mixed
 * database: `pgdr backup --local` of an empty database (cliStartSeconds) and `pgdr --help`, run
 * exactly as bench/speed.ts runs them (cliRunner), interleaved, median and range of --reps.
 *
 *   npx tsx bench/cli-start.ts [--reps N]
 *
 * Prints one JSON line: { cliStartSeconds, cliHelpSeconds, runs, load } (load: /proc/loadavg at the
 * start and at the end; the machine may be shared). Stops the cluster it starts by PID.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PG_BIN, PgCluster } from '../local/pg-cluster';
import { cliRunner, stats } from './speed';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { reps: { type: 'string', default: '7' } } });
  const reps = Number(values.reps);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps takes a whole number ≥ 1 (received ${JSON.stringify(values.reps)})`);
  const work = mkdtempSync(join(tmpdir(), 'pgdr-bench-cli-'));
  const pg = await PgCluster.start();
  try {
    await pg.createDatabase('empty');
    const { cli, sourceUrl } = cliRunner(pg, join(work, 'cli'));
    const loadStart = readFileSync('/proc/loadavg', 'utf8').trim();
    const empty: number[] = [];
    const help: number[] = [];
    for (let rep = 1; rep <= reps; rep++) {
      empty.push(await cli(`backup empty --local --source-url '${sourceUrl('empty')}' --pg-bin '${PG_BIN}' --json`));
      help.push(await cli('--help'));
    }
    const round = (v: number) => Math.round(v * 1000) / 1000;
    const figure = (values: number[]) => {
      const s = stats(values);
      return { median: round(s.median), min: round(s.min), max: round(s.max) };
    };
    const load = { start: loadStart, end: readFileSync('/proc/loadavg', 'utf8').trim() };
    console.log(JSON.stringify({ cliStartSeconds: figure(empty), cliHelpSeconds: figure(help), runs: { empty: empty.map(round), help: help.map(round) }, load }));
  } finally {
    await pg.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`cli-start: ${(err as Error).message}`);
  process.exitCode = 1;
});
