/**
 * The progress display of long steps: on a terminal, listr2's live display (a spinner per step,
 * its latest detail under it, a tick and the time when done); otherwise (a pipe, a file, CI,
 * `--json`) plain lines on stderr, one when a step starts, one per detail, one when it ends, so a
 * log reads the same story. stdout stays free for the command's result.
 */

export interface Progress {
  /** Runs `work` as a named step; `update` shows its latest detail. Rethrows the step's error. */
  step<T>(title: string, work: (update: (detail: string) => void) => Promise<T>): Promise<T>;
}

export interface ProgressOptions {
  /** @default process.stderr */
  readonly stream?: NodeJS.WriteStream;
  /** Live display; @default stream is a TTY and CI is not set */
  readonly live?: boolean;
  /** Every line passes through it (passwords hidden). */
  readonly redact: (text: string) => string;
  /** @default Date.now */
  readonly now?: () => number;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export function openProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const live = options.live ?? (stream.isTTY === true && !process.env.CI);
  const now = options.now ?? Date.now;
  const { redact } = options;
  if (!live) {
    return {
      step: async (title, work) => {
        const started = now();
        stream.write(`${redact(title)} ...\n`);
        try {
          const result = await work((detail) => stream.write(`  ${redact(detail)}\n`));
          stream.write(`${redact(title)}: done in ${seconds(now() - started)}\n`);
          return result;
        } catch (err) {
          stream.write(`${redact(title)}: FAILED after ${seconds(now() - started)}\n`);
          throw err;
        }
      },
    };
  }
  return {
    step: async <T>(title: string, work: (update: (detail: string) => void) => Promise<T>) => {
      let result!: T;
      let failure: unknown;
      const started = now();
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when needed, kept lazy in the bundle (scripts/build-cli.ts)
      const { Listr } = require('listr2') as typeof import('listr2');
      const list = new Listr(
        [
          {
            title: redact(title),
            task: async (_ctx, task) => {
              try {
                result = await work((detail) => {
                  task.output = redact(detail);
                });
              } catch (err) {
                // listr2 shows the message: a redacted copy; the caller gets the original error.
                failure = err;
                throw new Error(redact((err as Error)?.message ?? String(err)));
              }
              task.title = `${redact(title)} (${seconds(now() - started)})`;
            },
          },
        ],
        { renderer: 'default', rendererOptions: { collapseErrors: false }, exitOnError: true, registerSignalListeners: false },
      );
      try {
        await list.run();
      } catch (err) {
        throw failure ?? err;
      }
      return result;
    },
  };
}
