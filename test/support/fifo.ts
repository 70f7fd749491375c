/**
 * A FIFO that fake tools write a line to ("started"), read by a test through the event loop. The
 * test holds it open read-write: a writer never waits for a reader, the test never reads end of
 * file, and no thread of libuv's pool (4 per process, shared with every file operation of the test
 * process, the local S3 server's included) ever blocks on it, as a plain `readFile` of the FIFO
 * would until a writer came. `close()` it when done.
 */
import { constants, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { createInterface } from 'node:readline';

export interface FifoLines {
  /**
   * Until a line is written from now on; rejects at once with `ended`'s reason when `ended` settles
   * first (e.g. the process that should write exited). Stops listening either way, so a later line
   * is never taken for this one.
   */
  next(ended: Promise<string>): Promise<void>;
  close(): void;
}

/** Opens the FIFO at `path` (made with mkfifo) for reading its lines. */
export function fifoLines(path: string): FifoLines {
  const socket = new Socket({ fd: openSync(path, constants.O_RDWR | constants.O_NONBLOCK), readable: true, writable: false });
  const lines = createInterface({ input: socket });
  return {
    next: (ended) =>
      new Promise<void>((resolve, reject) => {
        const settle = (err?: Error) => {
          lines.off('line', onLine);
          if (err) reject(err);
          else resolve();
        };
        const onLine = () => settle();
        lines.on('line', onLine);
        ended.then((why) => settle(new Error(why)), settle);
      }),
    close: () => {
      lines.close();
      socket.destroy();
    },
  };
}
