/**
 * `stdoutBufferBytes`: the tool runs with coreutils' libstdbuf.so preloaded and `_STDBUF_O` set (what
 * `stdbuf -o` does), so pg_dump's archive leaves in 1 MiB writes; the library packed next to the
 * tools (`<dir>/lib`, the Lambda layer) wins over the system's. Checked on the running child: its
 * environment and the libraries mapped into it (/proc/<pid>/maps), read once the child answered a
 * line (so its loader has run). The dump's bytes through that buffer are the data-path tests' own.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { startTool, stdbufLibrary, stdbufLibraryCandidates } from '../../lambda/shared/pg-process';
import { PG_DUMP_STDOUT_BUFFER } from '../../lambda/dump/core';

const SYSTEM_BIN = '/usr/bin';
let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'pgdr-stdbuf-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Starts `cat` from `binDir` with the options, waits until it echoed a line, returns its environment and mapped files, and ends it. */
async function inspect(binDir: string, bytes?: number): Promise<{ env: string[]; mapped: string }> {
  const tool = startTool(binDir, 'cat', [], { stdin: true, ...(bytes ? { stdoutBufferBytes: bytes } : {}) });
  try {
    tool.stdin!.write('ready\n');
    // With a 1 MiB stdout buffer cat (which writes with write(2), not stdio) still answers at once.
    const [chunk] = (await once(tool.stdout, 'data')) as [Buffer];
    expect(chunk.toString()).toBe('ready\n');
    const pid = tool.child.pid!;
    return { env: readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0'), mapped: readFileSync(`/proc/${pid}/maps`, 'utf8') };
  } finally {
    tool.stdin!.end();
    await tool.exited;
  }
}

test("this machine has coreutils' libstdbuf.so (Debian's coreutils; the tools layer packs the build host's)", () => {
  expect(stdbufLibrary(SYSTEM_BIN)).toBe(stdbufLibraryCandidates(SYSTEM_BIN).slice(1).find((f) => existsSync(f)));
  expect(stdbufLibrary(SYSTEM_BIN)).toMatch(/libstdbuf\.so$/);
});

test('with stdoutBufferBytes the child runs with libstdbuf.so loaded and _STDBUF_O set; without it, neither', async () => {
  const library = stdbufLibrary(SYSTEM_BIN)!;
  const buffered = await inspect(SYSTEM_BIN, PG_DUMP_STDOUT_BUFFER);
  expect(buffered.env).toContain(`_STDBUF_O=${PG_DUMP_STDOUT_BUFFER}`);
  expect(buffered.env).toContain(`LD_PRELOAD=${library}`);
  expect(buffered.mapped).toContain(library);

  const plain = await inspect(SYSTEM_BIN);
  expect(plain.env.some((e) => e.startsWith('_STDBUF_O=') || e.startsWith('LD_PRELOAD='))).toBe(false);
  expect(plain.mapped).not.toContain('libstdbuf.so');
});

test('tools packed as <dir>/bin + <dir>/lib (the Lambda layer) preload the packed libstdbuf.so', async () => {
  const packed = join(work, 'layer');
  mkdirSync(join(packed, 'bin'), { recursive: true });
  mkdirSync(join(packed, 'lib'));
  symlinkSync(join(SYSTEM_BIN, 'cat'), join(packed, 'bin', 'cat'));
  copyFileSync(stdbufLibrary(SYSTEM_BIN)!, join(packed, 'lib', 'libstdbuf.so'));
  const seen = await inspect(join(packed, 'bin'), 4096);
  expect(seen.env).toContain(`LD_PRELOAD=${join(packed, 'lib', 'libstdbuf.so')}`);
  expect(seen.env).toContain('_STDBUF_O=4096');
  expect(seen.mapped).toContain(join(packed, 'lib', 'libstdbuf.so'));
});
