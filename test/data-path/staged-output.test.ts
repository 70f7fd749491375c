/**
 * StagedOutput (lambda/shared/staged-output.ts): a real child process writes its stdout into the
 * socket pair and the bytes come out whole and in order, hashed and counted, through a ring of
 * reused buffers, however slowly the consumer takes them; the end waits for the caller's gate
 * (and throws its rejection); `fail` stops the reading and the child gets a broken pipe; zstd
 * given a file (the directory format's uploads) reads it itself and writes its frame into the pair.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findZstd, startCompressor, zstdSummary } from '../../lambda/shared/compression';
import { expectSuccess, startTool } from '../../lambda/shared/pg-process';
import { StagedOutput } from '../../lambda/shared/staged-output';

const MIB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** One turn of the event loop: the consumer is slower than the reads (no timer involved). */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

let dir: string;
let file: string;
let data: Buffer;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pgdr-staged-'));
  file = join(dir, 'input.bin');
  // 24 MiB that do not repeat: any chunk overwritten before it was copied would show.
  data = randomBytes(24 * MIB);
  writeFileSync(file, data);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `cat file` writing into the pair. */
function catInto(staged: StagedOutput, path = file) {
  return startTool('', '/bin/cat', [path], { stdoutSocket: staged.childEnd });
}

test('a slow consumer gets every byte in order, through no more buffers than the ring holds', async () => {
  const staged = await StagedOutput.open({ bufferBytes: 64 * 1024, buffers: 4 });
  const cat = catInto(staged);
  staged.holdEndUntil(cat.exited.then(() => undefined));
  const copies: Buffer[] = [];
  const rings = new Set<ArrayBufferLike>();
  for await (const chunk of staged) {
    rings.add(chunk.buffer);
    // The chunk must stay as read until the next one is asked for, across the consumer's awaits.
    await turn();
    await turn();
    copies.push(Buffer.from(chunk));
  }
  const received = Buffer.concat(copies);
  expect((await cat.exited).code).toBe(0);
  expect(received.length).toBe(data.length);
  expect(sha(received)).toBe(sha(data));
  expect(staged.bytes).toBe(data.length);
  expect(staged.hash.digest('hex')).toBe(sha(data));
  expect(copies.length).toBeGreaterThan(data.length / (64 * 1024) - 1);
  expect(rings.size).toBeLessThanOrEqual(4);
});

test('an empty output ends at once, with the hash of nothing', async () => {
  const staged = await StagedOutput.open();
  const empty = join(dir, 'empty.bin');
  writeFileSync(empty, '');
  const cat = catInto(staged, empty);
  staged.holdEndUntil(cat.exited.then(() => undefined));
  const chunks: Buffer[] = [];
  for await (const chunk of staged) chunks.push(Buffer.from(chunk));
  expect(chunks).toEqual([]);
  expect(staged.bytes).toBe(0);
  expect(staged.hash.digest('hex')).toBe(sha(Buffer.alloc(0)));
});

test('the end waits for the gate, and a rejected gate is what the consumer gets', async () => {
  // Held: the iteration does not end before the gate resolves.
  const held = await StagedOutput.open();
  const cat = catInto(held);
  let open: () => void = () => undefined;
  let gateAsked: () => void = () => undefined;
  const asked = new Promise<void>((resolve) => (gateAsked = resolve));
  const gate = new Promise<void>((resolve) => (open = resolve));
  // A gate that says when the iterator waits on it.
  held.holdEndUntil({ then: (onDone: () => void, onFailed: (e: unknown) => void) => (gateAsked(), gate.then(onDone, onFailed)) } as unknown as Promise<void>);
  let bytes = 0;
  let ended = false;
  const reading = (async () => {
    for await (const chunk of held) bytes += chunk.length;
    ended = true;
  })();
  await asked;
  expect(bytes).toBe(data.length);
  expect(ended).toBe(false);
  expect((await cat.exited).code).toBe(0);
  open();
  await reading;
  expect(ended).toBe(true);

  // Rejected: every byte comes first, then the gate's error.
  const failing = await StagedOutput.open();
  const again = catInto(failing);
  failing.holdEndUntil(again.exited.then(() => Promise.reject(new Error('zstd exited with code 1'))));
  let seen = 0;
  await expect(
    (async () => {
      for await (const chunk of failing) seen += chunk.length;
    })(),
  ).rejects.toThrow('zstd exited with code 1');
  expect(seen).toBe(data.length);
});

test('fail() stops the reading: the consumer gets the error and the child a broken pipe', async () => {
  const staged = await StagedOutput.open({ bufferBytes: 64 * 1024 });
  // `yes` writes until its output is gone.
  const yes = startTool('', '/usr/bin/yes', ['pgdr'], { stdoutSocket: staged.childEnd });
  let chunks = 0;
  await expect(
    (async () => {
      for await (const chunk of staged) {
        expect(chunk.toString()).toMatch(/^[pgdr\n]+$/);
        if (++chunks === 3) staged.fail(new Error('dump stopped'));
      }
    })(),
  ).rejects.toThrow('dump stopped');
  const exit = await yes.exited;
  expect(exit.code === 0).toBe(false);
  expect(exit.signal === 'SIGPIPE' || exit.code === 1).toBe(true);
});

test('a ring of fewer than 3 buffers is refused', async () => {
  await expect(StagedOutput.open({ buffers: 2 })).rejects.toThrow('at least 3 buffers');
});

test('zstd reading a file itself (the directory format) writes one frame into the pair that decompresses to the file', async () => {
  const zstd = findZstd('/nonexistent');
  expect(zstd).toBeDefined();
  const staged = await StagedOutput.open();
  const running = startCompressor(zstd!, 1, staged.childEnd, file);
  // No stdin: zstd was given the file, not a pipe from Node.
  expect(running.stdin).toBeNull();
  staged.holdEndUntil(expectSuccess(running).then(() => undefined));
  const parts: Buffer[] = [];
  for await (const chunk of staged) parts.push(Buffer.from(chunk));
  const frame = Buffer.concat(parts);
  expect(staged.bytes).toBe(frame.length);
  expect(zstdSummary((await running.exited).stderr)).toEqual({ inBytes: data.length, outBytes: frame.length });
  const back = execFileSync(zstd!, ['-d', '-q', '-c'], { input: frame, maxBuffer: 64 * MIB });
  expect(sha(back)).toBe(sha(data));
});
