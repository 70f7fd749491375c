/**
 * Data offsets for a custom-format archive that pg_dump wrote into a pipe.
 *
 * pg_dump records in each table-of-contents entry where that entry's data block starts, but only
 * when its output is seekable: writing into zstd (pgdr's dump), it leaves every offset "not set".
 * `pg_restore --jobs N` on such a file makes every worker search the file for the block it needs,
 * hopping over the data of the tables before it one COPY row at a time (pg_dump writes a chunk
 * per row): measured on the 1.2 GB bench database, `pg_restore -j 2` took 15.8-16.0 s on the
 * piped archive against 14.3-14.5 s on the same archive written to a file.
 *
 * `writeDataOffsets` reads the archive once (header, table of contents, then the data blocks'
 * headers and chunk lengths) and writes each data block's offset into its entry in place, exactly
 * as pg_dump writes them into a file (flag K_OFFSET_POS_SET and the offset, in the same bytes), so
 * pg_restore's workers seek straight to their blocks. It changes nothing unless it understood the
 * whole file: any version it does not know, or anything unexpected, leaves the file as it was and
 * says why (pg_restore then searches, as before). Formats: archive versions 1.12-1.16 (pg_dump 9.x
 * to 17). Layout from PostgreSQL's pg_backup_archiver.c (ReadHead, ReadToc) and
 * pg_backup_custom.c (_StartData, _StartBlobs, _CustomWriteFunc).
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';

const K_OFFSET_POS_NOT_SET = 1;
const K_OFFSET_POS_SET = 2;
const K_OFFSET_NO_DATA = 3;
const BLK_DATA = 1;
const BLK_BLOBS = 3;

const version = (major: number, minor: number, rev = 0) => (major << 16) | (minor << 8) | rev;
const V1_12 = version(1, 12);
const V1_14 = version(1, 14);
const V1_15 = version(1, 15);
const V1_16 = version(1, 16);
const V1_17 = version(1, 17);

export type OffsetsResult = { readonly patched: number; readonly blocks: number } | { readonly skipped: string };

/** The archive did not parse as expected: the file is left as it is. */
class Unexpected extends Error {}

/**
 * Sequential reads over a file through one buffer, with the position of every byte read. What
 * `bytes` returns is valid until the next call.
 */
class Reader {
  private buffer: Buffer = Buffer.alloc(0);
  private start = 0;
  private at = 0;
  private scratch?: Buffer;

  constructor(
    private readonly file: FileHandle,
    readonly size: number,
    private readonly chunk = 4 * 1024 * 1024,
  ) {}

  get position(): number {
    return this.start + this.at;
  }

  private async ensure(n: number): Promise<void> {
    if (this.at + n <= this.buffer.length) return;
    const position = this.position;
    if (position + n > this.size) throw new Unexpected(`the archive ends at byte ${this.size}, inside a record at ${position}`);
    const length = Math.max(n, Math.min(this.chunk, this.size - position));
    // One buffer for every read (what bytes() returns is used before the next read). A fresh 4 MiB
    // per read had the kernel fault in new pages for most of the ~200 reads of the bench's 0.8 GB
    // archive: the whole scan took 0.52-2.07 s in a fresh process, 0.22-0.29 s once the process
    // had those pages; with the one buffer 0.26-0.29 s from the start.
    const next = length <= this.chunk ? (this.scratch ??= Buffer.allocUnsafe(this.chunk)) : Buffer.allocUnsafe(length);
    const { bytesRead } = await this.file.read(next, 0, length, position);
    if (bytesRead < n) throw new Unexpected(`short read at byte ${position}`);
    this.buffer = next.subarray(0, bytesRead);
    this.start = position;
    this.at = 0;
  }

  async bytes(n: number): Promise<Buffer> {
    await this.ensure(n);
    const out = this.buffer.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  async byte(): Promise<number> {
    return (await this.bytes(1))[0];
  }

  /** Skips `n` bytes without reading them (a seek past the buffer). */
  skip(n: number): void {
    const target = this.position + n;
    if (target > this.size) throw new Unexpected(`a chunk of ${n} bytes at ${this.position} runs past the end of the archive`);
    if (this.at + n <= this.buffer.length) this.at += n;
    else {
      this.buffer = Buffer.alloc(0);
      this.start = target;
      this.at = 0;
    }
  }

  atEnd(): boolean {
    return this.position >= this.size;
  }

  /**
   * Skips chunks (an integer length, then that many bytes) in the buffer without awaiting: 'end'
   * after the zero length, 'more' when the buffer runs out first (the caller refills it). The loop
   * runs once per COPY row (8 million times for the bench's archive): it works on locals and reads
   * pg_dump's usual 4-byte integers in one expression (the whole scan of that archive 0.26-0.29 s
   * -> 0.23-0.24 s in a fresh process, against byte by byte through the object's fields).
   */
  skipBufferedChunks(intSize: number): 'end' | 'more' {
    const header = 1 + intSize;
    const b = this.buffer;
    const end = b.length;
    let at = this.at;
    while (at + header <= end) {
      let length: number;
      if (intSize === 4) length = (b[at + 1] | (b[at + 2] << 8) | (b[at + 3] << 16)) + b[at + 4] * 0x1000000;
      else {
        length = 0;
        for (let i = intSize; i >= 1; i--) length = length * 256 + b[at + i];
      }
      if (b[at] !== 0) {
        this.at = at;
        throw new Unexpected(`a chunk of -${length} bytes`);
      }
      at += header;
      if (length === 0) {
        this.at = at;
        return 'end';
      }
      if (at + length > end) {
        this.at = at;
        this.skip(length);
        return 'more';
      }
      at += length;
    }
    this.at = at;
    return 'more';
  }
}

/** pg_dump's integers: a sign byte, then `intSize` bytes, least significant first. */
async function readInt(r: Reader, intSize: number): Promise<number> {
  const b = await r.bytes(1 + intSize);
  let value = 0;
  for (let i = intSize; i >= 1; i--) value = value * 256 + b[i];
  if (!Number.isSafeInteger(value)) throw new Unexpected('an integer beyond 2^53');
  return b[0] ? -value : value;
}

async function readStr(r: Reader, intSize: number): Promise<string | null> {
  const length = await readInt(r, intSize);
  if (length < 0) return null;
  if (length > 1024 * 1024 * 1024) throw new Unexpected(`a string of ${length} bytes`);
  return (await r.bytes(length)).toString('utf8');
}

interface OffsetField {
  readonly dumpId: number;
  /** Position of the flag byte (then offSize bytes of offset). */
  readonly at: number;
  readonly flag: number;
}

/** What `findDataOffsets` found: where each entry's offset field is, and where its data block starts. */
export interface FoundOffsets {
  readonly fields: readonly OffsetField[];
  readonly offSize: number;
  readonly blocks: ReadonlyMap<number, number>;
}

/** Writes the data blocks' offsets into `file`'s table of contents (see the module comment): `findDataOffsets`, then `patchDataOffsets`. */
export async function writeDataOffsets(file: string): Promise<OffsetsResult> {
  return patchDataOffsets(file, await findDataOffsets(file));
}

/**
 * Reads `file` once (header, table of contents, the data blocks' headers and chunk lengths) and
 * finds where each data block starts, without writing anything; `skipped` says why when the
 * archive is not one this understands. I/O errors reject.
 */
export async function findDataOffsets(file: string): Promise<FoundOffsets | { readonly skipped: string }> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const r = new Reader(handle, size);
    let fields: OffsetField[];
    let offSize: number;
    const blocks = new Map<number, number>();
    try {
      if ((await r.bytes(5)).toString('latin1') !== 'PGDMP') throw new Unexpected('not a custom-format archive (no PGDMP magic)');
      const [major, minor, rev] = [await r.byte(), await r.byte(), await r.byte()];
      const v = version(major, minor, rev);
      if (v < V1_12 || v >= V1_17) throw new Unexpected(`archive version ${major}.${minor}.${rev} is not one this reads (1.12-1.16)`);
      const intSize = await r.byte();
      offSize = await r.byte();
      const format = await r.byte();
      if (intSize < 1 || intSize > 8 || offSize < 1 || offSize > 8) throw new Unexpected(`integer size ${intSize}, offset size ${offSize}`);
      if (format !== 1) throw new Unexpected(`archive format ${format} is not custom (1)`);
      if (v >= V1_15) await r.byte();
      else await readInt(r, intSize);
      for (let i = 0; i < 7; i++) await readInt(r, intSize);
      for (let i = 0; i < 3; i++) await readStr(r, intSize);
      const count = await readInt(r, intSize);
      if (count < 0 || count > 100_000_000) throw new Unexpected(`${count} table-of-contents entries`);
      fields = [];
      for (let e = 0; e < count; e++) {
        const dumpId = await readInt(r, intSize);
        await readInt(r, intSize); // hadDumper
        await readStr(r, intSize); // tableoid
        await readStr(r, intSize); // oid
        await readStr(r, intSize); // tag
        const desc = await readStr(r, intSize);
        const section = await readInt(r, intSize);
        if (dumpId <= 0 || desc === null || section < 1 || section > 4) throw new Unexpected(`table-of-contents entry ${e + 1} does not parse (id ${dumpId}, section ${section})`);
        for (let i = 0; i < 5; i++) await readStr(r, intSize); // defn, dropStmt, copyStmt, namespace, tablespace
        if (v >= V1_14) await readStr(r, intSize); // tableam
        if (v >= V1_16) await readInt(r, intSize); // relkind
        await readStr(r, intSize); // owner
        const oids = await readStr(r, intSize); // "true"/"false" (WITH OIDS)
        if (oids !== 'true' && oids !== 'false') throw new Unexpected(`table-of-contents entry ${e + 1} does not parse (${JSON.stringify(oids?.slice(0, 20))} where "true" or "false" belongs)`);
        while ((await readStr(r, intSize)) !== null); // dependencies
        const at = r.position;
        const flag = await r.byte();
        if (flag !== K_OFFSET_POS_NOT_SET && flag !== K_OFFSET_POS_SET && flag !== K_OFFSET_NO_DATA) throw new Unexpected(`entry ${dumpId}: offset flag ${flag}`);
        await r.bytes(offSize);
        fields.push({ dumpId, at, flag });
      }
      const wanted = new Set(fields.filter((f) => f.flag !== K_OFFSET_NO_DATA).map((f) => f.dumpId));
      while (!r.atEnd()) {
        const start = r.position;
        const type = await r.byte();
        const dumpId = await readInt(r, intSize);
        if ((type !== BLK_DATA && type !== BLK_BLOBS) || !wanted.has(dumpId) || blocks.has(dumpId)) {
          throw new Unexpected(`byte ${start}: block type ${type} for entry ${dumpId} is not a data block the table of contents announces`);
        }
        blocks.set(dumpId, start);
        if (type === BLK_DATA) await skipChunks(r, intSize);
        else while ((await readInt(r, intSize)) !== 0) await skipChunks(r, intSize); // each large object: its OID, its chunks
      }
    } catch (err) {
      if (err instanceof Unexpected) return { skipped: err.message };
      throw err;
    }
    return { fields, offSize, blocks };
  } finally {
    await handle.close();
  }
}

/** Writes what `findDataOffsets` found into `file` (nothing when it skipped the file). I/O errors reject. */
export async function patchDataOffsets(file: string, found: FoundOffsets | { readonly skipped: string }): Promise<OffsetsResult> {
  if ('skipped' in found) return found;
  const { fields, offSize, blocks } = found;
  const handle = await open(file, 'r+');
  try {
    let patched = 0;
    for (const field of fields) {
      const offset = blocks.get(field.dumpId);
      if (field.flag !== K_OFFSET_POS_NOT_SET || offset === undefined) continue;
      const bytes = Buffer.alloc(1 + offSize);
      bytes[0] = K_OFFSET_POS_SET;
      let rest = offset;
      for (let i = 1; i <= offSize; i++) {
        bytes[i] = rest % 256;
        rest = Math.floor(rest / 256);
      }
      await handle.write(bytes, 0, bytes.length, field.at);
      patched++;
    }
    return { patched, blocks: blocks.size };
  } finally {
    await handle.close();
  }
}

/** Skips a sequence of chunks (length, bytes) up to its zero length (pg_dump writes one per COPY row: millions). */
async function skipChunks(r: Reader, intSize: number): Promise<void> {
  while (r.skipBufferedChunks(intSize) === 'more') {
    // A header split by the buffer's end: read it through the awaiting path.
    const length = await readInt(r, intSize);
    if (length === 0) return;
    if (length < 0) throw new Unexpected(`a chunk of ${length} bytes`);
    r.skip(length);
  }
}
