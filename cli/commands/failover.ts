/**
 * `pgdr failover`, `pgdr approve`, `pgdr reject`: start the failover state machine and follow it
 * live, state by state, with the elapsed time against the RTO; answer its approval request.
 */
import { Command, Option } from 'commander';
import { formatSeconds } from '../../lib/config/duration';
import type { PgdrConfig } from '../../lib/config';
import type { FailoverInput, RecoverySource } from '../../lambda/failover/contract';
import { RECOVERY_SOURCES } from '../../lambda/failover/contract';
import { Backend, EXIT, FailoverOutcome, WorkflowEvent } from '../contract';
import { CliError } from '../errors';
import { BackendOptions, openBackend, requireConfig } from '../backend';
import { interruptOnSignals } from '../interrupt';
import { configuredDatabase } from '../resolve';
import { openProgress } from '../progress';
import { redactOutput } from '../shared';

export interface FailoverOptions extends BackendOptions {
  readonly source: RecoverySource;
  readonly time?: string;
  readonly snapshot?: string;
  readonly key?: string;
  readonly drill?: boolean;
  /** commander's `--no-approval`: false when given. */
  readonly approval?: boolean;
  readonly json?: boolean;
  readonly follow?: boolean;
}

/** The execution input for the options, checked before anything starts. */
export function failoverInput(database: string, options: FailoverOptions, config: PgdrConfig): FailoverInput {
  const db = configuredDatabase(config, database);
  const misplaced: Array<[string, unknown, RecoverySource]> = [
    ['--time', options.time, 'pitr'],
    ['--snapshot', options.snapshot, 'snapshot'],
    ['--key', options.key, 'dump'],
  ];
  for (const [flag, value, source] of misplaced) {
    if (value !== undefined && options.source !== source) throw new CliError(`${flag} goes with --source ${source} (received --source ${options.source})`, EXIT.usage);
  }
  if (options.source !== 'dump' && db.source.type !== 'rds') {
    throw new CliError(`${database} is not an RDS instance (source.type ${db.source.type}): only --source dump can recover it`, EXIT.usage);
  }
  if (options.time !== undefined && Number.isNaN(Date.parse(options.time))) {
    throw new CliError(`--time must be an ISO-8601 time such as 2026-11-26T03:00:00Z (received ${options.time})`, EXIT.usage);
  }
  return {
    database,
    source: options.source,
    ...(options.time !== undefined ? { restoreTime: new Date(options.time).toISOString() } : {}),
    ...(options.snapshot !== undefined ? { snapshotIdentifier: options.snapshot } : {}),
    ...(options.key !== undefined ? { backupKey: options.key } : {}),
    mode: options.drill ? 'drill' : 'failover',
    ...(options.approval === false ? { approval: 'skip' as const } : {}),
  };
}

/** One line for an event of the run, with the elapsed time against the RTO. */
export function describeEvent(event: WorkflowEvent, startedAt: Date, rtoSeconds: number, executionId: string): string | undefined {
  const elapsed = Math.max(0, Math.round((event.at.getTime() - startedAt.getTime()) / 1000));
  const clock = `${formatSeconds(elapsed)} of RTO ${formatSeconds(rtoSeconds)}${elapsed > rtoSeconds ? ' (RTO exceeded)' : ''}`;
  switch (event.type) {
    case 'state-entered':
      return `${event.state} [${clock}]`;
    case 'approval-requested':
      return `waiting for approval [${clock}]: pgdr approve ${executionId}  |  pgdr reject ${executionId}`;
    case 'failed':
      return `failed: ${event.error ?? 'error'}${event.detail ? `: ${event.detail}` : ''} [${clock}]`;
    case 'succeeded':
      return `succeeded [${clock}]`;
    default:
      return undefined;
  }
}

/** Follows a started run to its end with a live display; the outcome. */
export async function followRun(backend: Backend, executionId: string, title: string, rtoSeconds: number, json: boolean): Promise<FailoverOutcome> {
  const progress = openProgress({ redact: redactOutput, live: json ? false : undefined });
  const interrupt = interruptOnSignals(
    backend.kind === 'aws' ? `the execution goes on in AWS: follow it in the console` : 'local clusters may remain under .pgdr/work',
  );
  try {
    return await progress.step(title, async (update) => {
      let startedAt: Date | undefined;
      const stopped = (detail: string) =>
        new CliError(
          backend.kind === 'aws' ? `stopped following ${executionId} (${interrupt.received}); ${detail}` : `${interrupt.received}: the local run was stopped and cleaned up`,
          interrupt.received === 'SIGTERM' ? EXIT.sigterm : EXIT.sigint,
        );
      let outcome: FailoverOutcome;
      try {
        outcome = await backend.follow(
          executionId,
          (event) => {
            startedAt ??= event.at;
            const line = describeEvent(event, startedAt, rtoSeconds, executionId);
            if (line) update(line);
          },
          interrupt.signal,
        );
      } catch (err) {
        if (interrupt.received) throw stopped((err as Error).message);
        throw err;
      }
      if (interrupt.received) throw stopped('the execution goes on in AWS');
      return outcome;
    });
  } finally {
    interrupt.dispose();
  }
}

/** The states of a run in order of first entry, with how often each ran and their total time (a poll loop is one line). */
export function stateTotals(states: FailoverOutcome['states']): Array<{ name: string; times: number; seconds: number }> {
  const totals = new Map<string, { name: string; times: number; seconds: number }>();
  for (const state of states) {
    const total = totals.get(state.name) ?? { name: state.name, times: 0, seconds: 0 };
    total.times += 1;
    total.seconds += state.seconds;
    totals.set(state.name, total);
  }
  return [...totals.values()];
}

/** The outcome as the command prints it; a failed run is a CliError. */
export function reportOutcome(outcome: FailoverOutcome, executionId: string, json: boolean, kind: Backend['kind']): void {
  const seconds = Math.round((outcome.stoppedAt.getTime() - outcome.startedAt.getTime()) / 1000);
  if (json) process.stdout.write(`${redactOutput(JSON.stringify({ executionId, ...outcome }, null, 2))}\n`);
  else {
    const lines = [`${outcome.status} ${executionId} in ${formatSeconds(seconds)}`];
    for (const state of stateTotals(outcome.states)) {
      lines.push(`  ${`${state.name}${state.times > 1 ? ` x${state.times}` : ''}`.padEnd(30)} ${state.seconds.toFixed(1).padStart(6)} s`);
    }
    const output = outcome.output as { mode?: string; instance?: { identifier?: string; host?: string; port?: number }; recordKey?: string } | undefined;
    if (output?.instance?.identifier && output.mode === 'failover') {
      lines.push(`new instance: ${output.instance.identifier} at ${output.instance.host}:${output.instance.port}`);
      if (kind === 'local') lines.push('  (local mode: a simulated instance; it was stopped when this command ended)');
    }
    if (output?.recordKey) lines.push(`recovery record: ${output.recordKey}`);
    process.stdout.write(`${redactOutput(lines.join('\n'))}\n`);
  }
  if (outcome.status !== 'SUCCEEDED') {
    throw new CliError(`${executionId} ended ${outcome.status}${outcome.error ? `: ${outcome.error}` : ''}${outcome.cause ? `: ${outcome.cause}` : ''}`, EXIT.failed);
  }
}

/** Starts a failover or drill and, unless told not to, follows it to its end. */
export async function startAndFollow(database: string, options: FailoverOptions): Promise<void> {
  const { config } = requireConfig(options.config);
  const input = failoverInput(database, options, config);
  const rto = configuredDatabase(config, database).rto.seconds;
  const backend = await openBackend(options, config);
  try {
    const run = await backend.startFailover(input);
    process.stderr.write(`${redactOutput(`started ${input.mode} of ${database} from ${input.source}: ${run.executionId}\n  watch: ${run.where}`)}\n`);
    if (options.follow === false && backend.kind === 'aws') {
      if (options.json) process.stdout.write(`${JSON.stringify(run)}\n`);
      return;
    }
    const outcome = await followRun(backend, run.executionId, `${input.mode} ${database} (${input.source})`, rto, options.json === true);
    reportOutcome(outcome, run.executionId, options.json === true, backend.kind);
  } finally {
    await backend.close();
  }
}

const backendOptions = (command: Command): Command =>
  command
    .option('--local', 'run on this machine: local PostgreSQL clusters, local S3 server, the synthesized state machine in a local interpreter')
    .option('--config <path>', 'configuration file (default: pgdr.config.json)')
    .option('--json', 'print the result as JSON on stdout');

export function registerFailover(program: Command): void {
  backendOptions(
    program
      .command('failover')
      .description('recover a database into a new RDS instance with the failover state machine, and follow it live')
      .argument('<database>', 'a configured database')
      .addOption(new Option('--source <source>', 'what to recover from').choices([...RECOVERY_SOURCES]).makeOptionMandatory())
      .option('--time <iso8601>', 'pitr: the time to recover to (default: the latest restorable time)')
      .option('--snapshot <identifier>', 'snapshot: the snapshot (default: the newest available)')
      .option('--key <key>', 'dump: the manifest or dump key (default: the latest verified backup)')
      .option('--drill', 'drill mode: never cut over; delete the instance at the end')
      .option('--no-approval', 'cut over without waiting for approval (default: the configuration\'s failover.requireApproval)')
      .option('--no-follow', 'start it and return (AWS only): follow later in the console')
      .option('--source-url <url>', '--local: the source to register as the RDS instance (pitr/snapshot)')
      .option('--pg-bin <dir>', '--local: directory of the PostgreSQL tools'),
  ).action((database: string, options: FailoverOptions) => startAndFollow(database, options));

  for (const [name, approve] of [
    ['approve', true],
    ['reject', false],
  ] as const) {
    backendOptions(
      program
        .command(name)
        .description(approve ? 'approve the cutover a waiting failover asks for' : 'reject the cutover a waiting failover asks for: the run ends without cutover and cleans up')
        .argument('<execution>', 'the execution ARN (AWS) or local execution name that `pgdr failover` printed')
        .option('--comment <text>', 'recorded with the answer'),
    ).action(async (execution: string, options: BackendOptions & { comment?: string; json?: boolean }) => {
      const { config } = requireConfig(options.config);
      const backend = await openBackend(options, config);
      try {
        await backend.answerApproval(execution, { approve, ...(options.comment ? { comment: options.comment } : {}) });
      } finally {
        await backend.close();
      }
      if (options.json) process.stdout.write(`${JSON.stringify({ execution, approved: approve })}\n`);
      else process.stdout.write(`${approve ? 'approved' : 'rejected'}: ${execution}\n`);
    });
  }
}
