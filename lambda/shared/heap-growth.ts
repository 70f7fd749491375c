/**
 * V8's heap growth for a process that streams a dump through Node: the dump job's upload, verify,
 * the failover's restore, `pgdr backup|verify|drill --local`.
 *
 * Once a Node process has been idle for ~15 s (a warm Lambda between invocations, the CLI or the
 * bench between two steps), V8's memory reducer shrinks the heap to its live size (~17 MB here),
 * and from then on the old generation's allocation limit stays just above it: while a dump streams
 * in, V8 started a full mark-compact every ~50 ms (200-230 per 172 MiB download against 5-8 in a
 * fresh process), and the download took 2.0-2.4 s and 3.3-4.0 CPU-s instead of 1.3-1.5 s and
 * 2.0-2.3 (measured with --trace-gc and --trace-incremental-marking: "Start (allocation limit):
 * v8: 16MB / 25MB / 9MB"; perf shows ConcurrentMarking::RunMajor and the sweeper on top).
 * Letting each collection set the next limit at 3x the live heap (V8's own factor ranges 1.1-4)
 * removes it: 6-8 mark-compacts, the download as fast as in a fresh process, also after the idle.
 * The upload side has the same trouble to a lesser degree: a dump job in a process that had idled
 * 15 s ran 14-16 mark-compacts per 172 MiB object and used 1.26 CPU-s of Node against 0.76-0.83
 * with this flag (1.03-1.05 in a fresh process, either way).
 * The heap's cost is bounded by its live size (tens of MB for these jobs).
 *
 * `--initial-old-space-size=64` has the same effect but Node accepts it only on its command line
 * (not in NODE_OPTIONS, and V8 ignores it once the heap exists); this flag takes effect at run time.
 * bin/pgdr.js sets the same flag before it compiles the CLI bundle: V8 accepts a code cache only
 * under the flags it was written with.
 */
import { setFlagsFromString } from 'node:v8';

/** The V8 flag set by `growHeapForStreaming` (and by bin/pgdr.js, which must use the same string). */
export const HEAP_GROWTH_FLAG = '--heap-growing-percent=200';

let set = false;

/** Sets HEAP_GROWTH_FLAG for this process (once; later calls do nothing). */
export function growHeapForStreaming(): void {
  if (set) return;
  setFlagsFromString(HEAP_GROWTH_FLAG);
  set = true;
}
