/** A test cluster's server.log read from an offset: what the server logged while a test step ran. */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { PgCluster } from '../../local/pg-cluster';

/** The current end of `pg`'s server.log (bytes), to read from later with `serverLogSince`. */
export function serverLogSize(pg: PgCluster): number {
  return statSync(join(pg.dir, 'server.log')).size;
}

/** What `pg`'s server.log holds after byte offset `from`. */
export function serverLogSince(pg: PgCluster, from: number): string {
  return readFileSync(join(pg.dir, 'server.log')).subarray(from).toString('utf8');
}
