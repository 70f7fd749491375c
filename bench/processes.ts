/**
 * What the benchmark started, and how it is stopped: every process and temp directory is
 * registered here right after it exists and is stopped by its PID (never by name) in LIFO order,
 * on success, on failure (`finally`) and on SIGINT/SIGTERM/SIGHUP.
 */
import { ChildProcess } from 'node:child_process';

type Task = { readonly name: string; readonly run: () => Promise<void> | void };

export class Cleanups {
  private readonly tasks: Task[] = [];
  private running: Promise<void> | undefined;

  /** Registers a cleanup; the returned function unregisters it (when the resource went away by itself). */
  add(name: string, run: () => Promise<void> | void): () => void {
    const task: Task = { name, run };
    this.tasks.push(task);
    return () => {
      const i = this.tasks.indexOf(task);
      if (i >= 0) this.tasks.splice(i, 1);
    };
  }

  /** Runs every registered cleanup once, newest first; a failing one does not stop the others. */
  runAll(): Promise<void> {
    this.running ??= (async () => {
      while (this.tasks.length > 0) {
        const task = this.tasks.pop()!;
        try {
          await task.run();
        } catch (err) {
          console.error(`cleanup "${task.name}" failed: ${(err as Error).message}`);
        }
      }
      this.running = undefined;
    })();
    return this.running;
  }

  /** On SIGINT, SIGTERM or SIGHUP: run the cleanups, then exit with 128 + the signal number. */
  exitOnSignals(): void {
    const numbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };
    for (const signal of Object.keys(numbers) as NodeJS.Signals[]) {
      process.once(signal, () => {
        console.error(`${signal}: stopping what the benchmark started...`);
        void this.runAll().finally(() => process.exit(128 + numbers[signal]));
      });
    }
  }
}

/**
 * SIGKILLs a child started with `detached: true` together with its process group (the child's
 * own children, e.g. pg_dump and zstd, are in it), by the child's PID, and waits for its exit.
 */
export async function killGroup(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(-pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
  await exited;
}
