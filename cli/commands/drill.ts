/**
 * `pgdr drill <database>`: the failover state machine in drill mode against the deployed stack,
 * followed live (cli/commands/failover.ts). `pgdr drill [database] --local`: backup → verify → failover in drill mode → validate →
 * teardown on this machine (local/drill.ts), with a live display of the steps (listr2) on a
 * terminal, plain lines (one per step, with its time) otherwise, both on stderr; then the report
 * on stdout (`--json`: exactly one JSON object, the DrillReport). Exit code 1 when a step failed
 * or an objective was missed; Ctrl-C / SIGTERM stop the current step, tear everything down and
 * exit 130 / 143.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { RECOVERY_SOURCES, RecoverySource } from '../../lambda/failover/contract';
import { requireConfig } from '../backend';
import { configuredDatabase } from '../resolve';
import { startAndFollow } from './failover';
import type { DefaultRenderer, ListrTaskWrapper, SimpleRenderer } from 'listr2';
import type { DrillProgress, DrillReport, DrillStep, DrillStepName } from '../contract';
import { DEFAULT_DRILL_DATABASE, DRILL_STEPS, EXIT } from '../contract';
import { CliError } from '../errors';
import { interruptOnSignals, signalExitCode } from '../interrupt';
import { redactOutput } from '../shared';

interface DrillOptions {
  local?: boolean;
  source?: RecoverySource;
  sourceUrl?: string;
  rows?: number;
  json?: boolean;
  config?: string;
  pgBin?: string;
  verbose?: boolean;
}

const TITLES: Record<DrillStepName, string> = {
  'prepare-source': 'prepare the source database',
  backup: 'backup (dump into the local vault)',
  verify: 'verify (integrity and restore test)',
  failover: 'failover in drill mode (synthesized state machine, simulated RDS)',
  validate: 'validate the new instance',
  teardown: 'teardown',
};

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 5) throw new InvalidArgumentError('must be an integer of at least 5');
  return n;
}

export function registerDrill(program: Command): void {
  program
    .command('drill')
    .description('run a recovery drill: backup, verify, failover in drill mode into a new instance, validate, teardown; then the report')
    .argument('[database]', `a configured database (its objectives and settings), or any name for the embedded default (rpo 24h, rto 1h)`, DEFAULT_DRILL_DATABASE)
    .option('--local', 'run on this machine: PostgreSQL clusters under .pgdr/work, the local S3 server, the synthesized state machine with the RDS simulator')
    .option('--source-url <url>', 'drill this database (postgres://user@host:port/db; password from PGPASSWORD or ~/.pgpass) instead of a generated one')
    .addOption(new Option('--source <source>', 'what to recover from (default: the configuration\'s drill.source; --local: dump)').choices([...RECOVERY_SOURCES]))
    .option('--rows <n>', 'rows of the generated sample data (default 300000)', positiveInt)
    .option('--config <path>', 'configuration file (default: pgdr.config.json if present)')
    .option('--pg-bin <dir>', 'directory of the PostgreSQL tools (default: PGDR_PG_BIN, the newest /usr/lib/postgresql/N/bin, PATH)')
    .option('--json', 'print the report as one JSON object')
    .option('--verbose', 'structured logs on stderr, and every state of the workflow')
    .addHelpText(
      'after',
      `
The drill passes when every step succeeds and the measured RPO (drill end − the backup's snapshot)
and RTO (failover start → new instance validated) are within the database's targets.
Nothing is left running and .pgdr/work/<run> is removed, also after a failure or Ctrl-C.
Exit codes: 0 passed; 1 a step failed or an objective was missed; 2 bad usage; 130/143 interrupted.`,
    )
    .action(async (database: string, options: DrillOptions) => {
      if (!options.local) {
        // Against the deployed stack: the failover state machine in drill mode, followed live; its outcome is the report.
        const { config } = requireConfig(options.config);
        const db = configuredDatabase(config, database);
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when needed, kept lazy in the bundle (scripts/build-cli.ts)
        const { defaultDrillSource } = require('../../lib/drill-schedules') as typeof import('../../lib/drill-schedules');
        const source = options.source ?? db.drill.source ?? defaultDrillSource(db.source);
        await startAndFollow(database, { config: options.config, source, drill: true, approval: false, json: options.json });
        return;
      }
      if (options.source && options.source !== 'dump') throw new CliError(`the local drill recovers from the dump (received --source ${options.source})`, EXIT.usage);
      const interrupt = interruptOnSignals('PostgreSQL servers under .pgdr/work may still run: stop them by the PIDs in their postmaster.pid');
      const display = process.stderr.isTTY ? listrDisplay() : plainDisplay(options.verbose === true);
      let report: DrillReport;
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when needed, kept lazy in the bundle (scripts/build-cli.ts)
        const { runLocalDrill } = require('../../local/drill') as typeof import('../../local/drill');
        report = await runLocalDrill({
          database,
          configPath: options.config,
          sourceUrl: options.sourceUrl,
          rows: options.rows,
          pgBin: options.pgBin,
          verbose: options.verbose,
          redact: redactOutput,
          signal: interrupt.signal,
          onProgress: display.onProgress,
        });
      } finally {
        await display.done();
        interrupt.dispose();
      }
      if (options.json) process.stdout.write(`${JSON.stringify(report)}\n`);
      else process.stdout.write(redactOutput(formatReport(report)));
      if (interrupt.received) throw new CliError(`drill interrupted by ${interrupt.received}; everything it started was stopped and removed`, signalExitCode(interrupt.received));
      if (!report.ok) throw new CliError(`drill of ${report.database} FAILED: ${report.failures.join('; ')}`, EXIT.failed);
    });
}

interface Display {
  onProgress(progress: DrillProgress): void;
  done(): Promise<void>;
}

const stepLine = (s: DrillStep) => `${s.ok ? 'ok  ' : 'FAIL'} ${s.name.padEnd(14)} ${`${s.seconds.toFixed(1)} s`.padStart(8)}  ${s.detail}`;

/** One line per step as it ends (and, with --verbose, each state of the workflow), on stderr. */
function plainDisplay(verbose: boolean): Display {
  const out = (line: string) => process.stderr.write(`${redactOutput(line)}\n`);
  return {
    onProgress: (p) => {
      if (p.type === 'step-ended') out(`drill: ${stepLine(p.result)}`);
      else if (p.type === 'workflow' && verbose && p.event.type === 'state-entered') out(`drill:   state ${p.event.state}`);
    },
    done: async () => undefined,
  };
}

type Wrapper = ListrTaskWrapper<unknown, typeof DefaultRenderer, typeof SimpleRenderer>;

/** A listr2 task list on stderr: each task waits for its step's events. */
function listrDisplay(): Display {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when needed, kept lazy in the bundle (scripts/build-cli.ts)
  const { Listr, ListrLogger, PRESET_TIMER, ProcessOutput } = require('listr2') as typeof import('listr2');
  type Deferred = { started: Promise<void>; ended: Promise<DrillStep | undefined>; start: () => void; end: (s?: DrillStep) => void };
  const deferred = new Map<DrillStepName, Deferred>();
  for (const name of DRILL_STEPS) {
    let start!: () => void;
    let end!: (s?: DrillStep) => void;
    const started = new Promise<void>((r) => (start = r));
    const ended = new Promise<DrillStep | undefined>((r) => (end = r));
    deferred.set(name, { started, ended, start, end });
  }
  let current: Wrapper | undefined;
  const list = new Listr<unknown, 'default', 'simple'>(
    DRILL_STEPS.map((name) => ({
      title: TITLES[name],
      task: async (_ctx: unknown, task: Wrapper) => {
        const d = deferred.get(name)!;
        await Promise.race([d.started, d.ended]);
        current = task;
        const step = await d.ended;
        current = undefined;
        if (!step) return task.skip(`${TITLES[name]} (skipped)`);
        task.title = `${TITLES[name]} — ${step.seconds.toFixed(1)} s`;
        if (!step.ok) throw new Error(redactOutput(step.detail));
        task.output = redactOutput(step.detail);
      },
      rendererOptions: { persistentOutput: true },
    })),
    {
      concurrent: false,
      exitOnError: false,
      renderer: 'default',
      rendererOptions: { timer: PRESET_TIMER, logger: new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr) }) },
    },
  );
  const running = list.run().catch(() => undefined);
  return {
    onProgress: (p) => {
      if (p.type === 'step-started') deferred.get(p.step)!.start();
      else if (p.type === 'step-ended') {
        deferred.get(p.step)!.end(p.result);
        // Steps never reached (a failure or Ctrl-C) before teardown: skipped.
        if (p.step === 'teardown') for (const d of deferred.values()) d.end(undefined);
      } else if (p.type === 'workflow' && current && p.event.type === 'state-entered') current.output = `state ${p.event.state}`;
    },
    done: async () => {
      for (const d of deferred.values()) d.end(undefined);
      await running;
    },
  };
}

function formatReport(r: DrillReport): string {
  const lines = [
    `${r.ok ? 'PASSED' : 'FAILED'}: local drill of ${r.database} (recovery from the ${r.source})${r.executionId ? `, execution ${r.executionId}` : ''}`,
    '',
    ...r.steps.map((s) => `  ${stepLine(s)}`),
    '',
  ];
  // Measured only once the failover ran (its step passed, or at least validated).
  const measured = r.steps.some((s) => s.name === 'failover' && s.ok) || r.measured.rtoSeconds > 0;
  const objective = (name: string, value: number, target: number) =>
    `  ${name}  ${measured ? `measured ${value} s` : 'not measured'}   target ${target} s${measured ? `   ${value <= target ? 'within' : 'MISSED'}` : ''}`;
  lines.push(objective('RPO', r.measured.rpoSeconds, r.targets.rpoSeconds), objective('RTO', r.measured.rtoSeconds, r.targets.rtoSeconds));
  if (r.data) lines.push(`  data ${r.data.tables} tables, ${r.data.rows} rows in the backup, ${r.data.recoveredRows} recovered`);
  if (r.failures.length > 0) lines.push('', ...r.failures.map((f) => `  - ${f}`));
  return `${lines.join('\n')}\n`;
}
