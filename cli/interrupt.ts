/**
 * Ctrl-C and SIGTERM for a command that must clean up: the first signal aborts `signal` (the
 * command stops its work, aborts its upload, writes nothing more and reports one line); a second
 * one exits at once, saying what may be left behind.
 */
import { constants } from 'node:os';

export interface Interrupt {
  /** Aborted by the first SIGINT/SIGTERM; its reason is an Error "interrupted by SIGINT". */
  readonly signal: AbortSignal;
  /** The first signal received, if any. */
  readonly received: NodeJS.Signals | undefined;
  /** Removes the handlers (the default behaviour of the signals returns). */
  dispose(): void;
}

/** The exit code of a process ended by `name`: 128 + its number (130 for SIGINT). */
export function signalExitCode(name: NodeJS.Signals): number {
  return 128 + (constants.signals[name] ?? 0);
}

/** Installs the handlers; `leftBehind` says what an immediate exit may leave. */
export function interruptOnSignals(leftBehind: string, exit: (code: number) => never = process.exit): Interrupt {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const names: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  const handler = (name: NodeJS.Signals) => {
    if (!received) {
      received = name;
      controller.abort(new Error(`interrupted by ${name}`));
      return;
    }
    process.stderr.write(`pgdr: ${name} again: exiting without cleaning up; ${leftBehind}\n`);
    exit(signalExitCode(name));
  };
  for (const name of names) process.on(name, handler);
  return {
    signal: controller.signal,
    get received() {
      return received;
    },
    dispose: () => {
      for (const name of names) process.off(name, handler);
    },
  };
}
