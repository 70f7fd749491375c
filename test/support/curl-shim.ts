/**
 * A stand-in `curl` for running build commands offline: it serves one URL from a local file
 * (`curl ... -o OUT URL`) and fails like `curl -f` on any other URL. No network.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes `dir/curl`, which copies `file` to the `-o` target when asked for `url`. */
export function writeCurlShim(dir: string, url: string, file: string): void {
  writeFileSync(
    join(dir, 'curl'),
    [
      '#!/usr/bin/env bash',
      'out=; url=',
      'while [ $# -gt 0 ]; do case "$1" in -o) out="$2"; shift 2 ;; --retry|--proto) shift 2 ;; -*) shift ;; *) url="$1"; shift ;; esac; done',
      `[ "$url" = ${JSON.stringify(url)} ] || { echo "curl stand-in: (22) The requested URL returned error: 404 ($url)" >&2; exit 22; }`,
      `cp ${JSON.stringify(file)} "$out"`,
    ].join('\n'),
    { mode: 0o755 },
  );
}
