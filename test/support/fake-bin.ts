/**
 * A PGDR_PG_BIN for fault tests: the real PostgreSQL tools (symlinks), with some replaced by
 * small shell wrappers around the real binary. Remove it with `remove()`.
 */
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PG_BIN } from '../../local/pg-cluster';

export interface FakeBin {
  readonly dir: string;
  remove(): void;
}

/** `wrappers` maps a tool name to a bash script body; `$REAL` is the real binary. */
export function fakeBin(wrappers: Record<string, string>): FakeBin {
  const dir = mkdtempSync(join(tmpdir(), 'pgdr-bin-'));
  for (const tool of ['pg_dump', 'pg_restore', 'psql']) {
    if (wrappers[tool] === undefined) symlinkSync(join(PG_BIN, tool), join(dir, tool));
  }
  for (const [tool, body] of Object.entries(wrappers)) {
    writeFileSync(join(dir, tool), `#!/bin/bash\nREAL=${JSON.stringify(join(PG_BIN, tool))}\n${body}\n`, { mode: 0o755 });
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** pg_dump that reports an older major version (and would otherwise run the real one). */
export const OLD_PG_DUMP = `if [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) 14.11"; exit 0; fi\nexec "$REAL" "$@"`;

/** pg_dump that writes its PID to $1-file before becoming the real pg_dump (so a test can kill it). */
export function pidRecordingPgDump(pidFile: string): string {
  return `if [ "$1" = "--version" ]; then exec "$REAL" --version; fi\necho $$ > ${JSON.stringify(pidFile)}\nexec "$REAL" "$@"`;
}
