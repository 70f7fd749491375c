/**
 * Server-side limits that a DBA or a managed provider sets for every session (postgresql.conf or
 * a parameter group, ALTER SYSTEM, ALTER DATABASE ... SET, ALTER ROLE ... SET) and that would cut
 * pgdr's work short: the snapshot transaction stays idle while pg_dump runs, `count(*)` of a large
 * table takes long, a lock request may queue behind pg_dump's own locks. pg_dump and pg_restore
 * turn these off for their own sessions; pgdr turns them off for EVERY session it opens, in the
 * one place where sessions are made:
 *
 * - `statement_timeout`, `lock_timeout` and `idle_in_transaction_session_timeout` (PostgreSQL 9.6+)
 *   travel in the startup packet: the `options` of node-postgres (connection.ts `pgClientConfig`)
 *   and `PGOPTIONS` of the libpq tools (`libpqEnv`). They are off before the first statement
 *   runs, whichever way the server sets them: startup options override the server's
 *   configuration and the database's and role's settings (only a SET inside the session wins
 *   over them, e.g. the verify job's `SET LOCAL statement_timeout` around each smoke query).
 * - `idle_session_timeout` (14+) and `transaction_timeout` (17+) would make older servers refuse
 *   the connection if named in the startup packet, so `connectClient` turns them off right after
 *   connecting, where the server has them (`NEUTRALISE_NEWER_SQL`).
 */

/** Turned off in the startup packet of every session. */
export const STARTUP_TIMEOUTS = ['statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout'] as const;

/** The startup `options` / `PGOPTIONS` value that turns STARTUP_TIMEOUTS off. */
export const SESSION_OPTIONS = STARTUP_TIMEOUTS.map((name) => `-c ${name}=0`).join(' ');

/** Timeouts of newer servers, turned off right after connecting where the server has them. */
export const NEWER_TIMEOUTS = ['idle_session_timeout', 'transaction_timeout'] as const;

/** One statement, valid on every server version: sets each of NEWER_TIMEOUTS that exists to 0 for the session. */
export const NEUTRALISE_NEWER_SQL = `SELECT set_config(name, '0', false) FROM pg_settings WHERE name IN (${NEWER_TIMEOUTS.map((n) => `'${n}'`).join(', ')})`;
