/**
 * A child process's stdout, read by Node into a few buffers allocated once, hashed and counted as
 * it is read: the dump's stored bytes (zstd's output, or pg_dump's when nothing compresses) on
 * their way to the upload.
 *
 * Node reads a child's stdout pipe into a new 64 KiB buffer per read. For a dump that is thousands
 * of buffers, each touched for the first time (a page fault per 4 KiB: ~13-19 us each on a
 * Firecracker VM such as Lambda's) and each left to the garbage collector, plus a stream's
 * machinery per chunk. Here the child writes into one end of a connected Unix socket and Node
 * reads the other end through `net.Socket`'s `onread` option into a ring of reused buffers
 * (`buffers` x `bufferBytes`). By hand, zstd -1 of the bench's 784 MiB archive (180 MB out) read
 * by Node, SHA-256 and CRC32 included: 0.55-0.68 CPU-s of Node this way against 1.01-1.15 through
 * the child's stdout stream (4 interleaved runs each).
 *
 * Each chunk the iterator yields is a view into the ring, valid until the next chunk is asked
 * for: the consumer copies what it keeps (ports.ts ObjectStore.uploadStream says so). Reading
 * pauses while the consumer is behind by `buffers - 2` chunks (one more is held by the consumer,
 * one is being read into), so no read lands in a buffer still in use, and the child then waits on
 * the full socket: memory stays the ring's.
 *
 * End of input is the child closing its end (it exits): the iterator then waits for `gate`
 * (the producers' exits, judged by the caller) before it ends, so an upload that completes on the
 * end of its body cannot complete a dump whose producer failed. `fail(err)` makes the iterator
 * throw `err` at its next step. A consumer that stops early leaves the pair open: the child then
 * waits on a full socket until the caller stops it (it was not broken by us, so its exit is not
 * mistaken for the cause) and `close()`s the pair.
 */
import { createHash, Hash, randomBytes } from 'node:crypto';
import { connect, createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface StagedOutputOptions {
  /** Bytes of each ring buffer (the most one read takes). @default 256 KiB */
  readonly bufferBytes?: number;
  /** Ring buffers (at least 3: one read into, one held by the consumer, one queued). @default 4 */
  readonly buffers?: number;
}

/** Where the pair meets: an abstract socket name on Linux (no file), a path in the temp directory elsewhere. */
function meetingPoint(): string {
  const name = `pgdr-out-${process.pid}-${randomBytes(8).toString('hex')}`;
  return process.platform === 'linux' ? `\0${name}` : join(tmpdir(), `${name}.sock`);
}

export class StagedOutput implements AsyncIterable<Buffer> {
  /** SHA-256 of the bytes read so far. */
  readonly hash: Hash = createHash('sha256');
  /** Bytes read so far. */
  bytes = 0;
  private readonly queue: Buffer[] = [];
  private readonly pauseAt: number;
  private ended = false;
  private failure: Error | undefined;
  private paused = false;
  private wake: (() => void) | undefined;
  private iterated = false;
  private gate: Promise<void> = Promise.resolve();

  /** The end to give the child as its stdout (spawn's stdio); this process's copy is closed once the child holds it. */
  childEnd!: Socket;
  private reader!: Socket;

  private constructor(buffers: number) {
    this.pauseAt = buffers - 2;
  }

  private attach(childEnd: Socket, reader: Socket): void {
    this.childEnd = childEnd;
    this.reader = reader;
    // Flowing, so that the end of input is reported ('end'); the bytes themselves go to `onread`.
    reader.resume();
    reader.on('end', () => this.settle());
    reader.on('error', (err) => this.fail(err));
    reader.on('close', () => this.settle());
  }

  /** Opens a connected pair; `childEnd` is for the child's stdout. */
  static async open(options: StagedOutputOptions = {}): Promise<StagedOutput> {
    const bufferBytes = options.bufferBytes ?? 256 * 1024;
    const count = options.buffers ?? 4;
    if (!Number.isInteger(count) || count < 3) throw new Error(`a staged output needs at least 3 buffers (received ${count})`);
    const ring = Array.from({ length: count }, () => Buffer.allocUnsafe(bufferBytes));
    const path = meetingPoint();
    // pauseOnConnect: this process never reads its copy of the child's end.
    const server = createServer({ pauseOnConnect: true });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => resolve());
      });
      const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
      const staged = new StagedOutput(count);
      let next = 0;
      const reader = connect({
        path,
        onread: {
          // Called once at the start and after each read: the ring's next buffer.
          buffer: () => ring[next],
          callback: (n: number, buf: Uint8Array) => {
            next = (next + 1) % count;
            return staged.push((buf as Buffer).subarray(0, n));
          },
        },
      });
      await new Promise<void>((resolve, reject) => {
        reader.once('connect', resolve);
        reader.once('error', reject);
      });
      staged.attach(await accepted, reader);
      return staged;
    } finally {
      // Connected: the name is no longer needed (a path in the temp directory is removed by close).
      server.close();
    }
  }

  /** Ends the iteration only once `gate` resolves; its rejection is thrown instead. */
  holdEndUntil(gate: Promise<void>): void {
    this.gate = gate;
  }

  /** Makes the iterator throw `err` (once it has yielded what was read before) and closes the pair. */
  fail(err: Error): void {
    this.failure ??= err;
    this.close();
    this.settle();
  }

  /** Calls `fn` with an error reading the pair (not with the one `fail` was given). */
  onReadError(fn: (err: Error) => void): void {
    this.reader.on('error', fn);
  }

  /** Closes both ends in this process (idempotent). */
  close(): void {
    this.childEnd.destroy();
    this.reader.destroy();
  }

  private push(chunk: Buffer): boolean {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.queue.push(chunk);
    this.wake?.();
    if (this.queue.length >= this.pauseAt) {
      this.paused = true;
      return false;
    }
    return true;
  }

  private settle(): void {
    this.ended = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer, void, undefined> {
    if (this.iterated) throw new Error('a staged output is read once');
    this.iterated = true;
    for (;;) {
      const chunk = this.queue.shift();
      if (chunk) {
        if (this.paused && !this.reader.destroyed) {
          this.paused = false;
          this.reader.resume();
        }
        yield chunk;
        continue;
      }
      if (this.failure) throw this.failure;
      if (this.ended) break;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    await this.gate;
    if (this.failure) throw this.failure;
  }
}
