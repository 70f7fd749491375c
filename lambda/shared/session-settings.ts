/**
 * Server-side limits that a DBA or a managed provider sets for every session (postgresql.conf or
 * a parameter group, ALTER SYSTEM, ALTER DATABASE ... SET, ALTER ROLE ... SET) and that would cut
 * pgdr's work short: the snapshot transaction stays idle while pg_dump runs, `count(*)` of a large
 * table takes long, a lock request may queue behind pg_dump's own locks. pg_dump and pg_restore
 * turn these off for their own sessions; pgdr turns them off for EVERY session it opens, in the
 * one place where sessions are made:
 *
 * - the node-postgres sessions (`connectClient`) turn every one of TIMEOUTS that the server has
 *   off with one statement right after connecting, before the caller gets the session
 *   (`NEUTRALISE_TIMEOUTS_SQL`), preceded by a bare `SET statement_timeout = 0` so that a timeout
 *   of a millisecond cannot cancel that catalog query itself; when the server cancels the setup
 *   anyway (the timer armed for the SET fires as it ends), pgdr opens a new session
 *   (pg-client.ts). A session SET wins over the server's configuration and the
 *   database's and role's settings (only a later SET wins over it, e.g. the verify job's
 *   `SET LOCAL statement_timeout` around each smoke query).
 * - Not in the startup packet (`options` / `PGOPTIONS`): connection poolers in front of managed
 *   PostgreSQL (PgBouncer, Neon's and Supabase's poolers) refuse a connection whose startup
 *   packet names `statement_timeout` or `lock_timeout` ("unsupported startup parameter"), and
 *   pgdr must work through them. pg_dump and pg_restore set statement_timeout, lock_timeout and
 *   idle_in_transaction_session_timeout to 0 in their own sessions (and transaction_timeout from
 *   PostgreSQL 17), so the tools need nothing from pgdr.
 */

/** Server-side timeouts pgdr turns off in each of its sessions (the newer ones where the server has them). */
export const TIMEOUTS = [
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'idle_session_timeout', // PostgreSQL 14+
  'transaction_timeout', // PostgreSQL 17+
] as const;

/**
 * One statement, valid on every server version: sets each of `values` that the server has (a
 * setting newer than the server is left out), for the session, or with `local` for the current
 * transaction only, as SET LOCAL does. Names and values are pgdr's own constants, not input.
 */
export function setKnownSettingsSql(values: Readonly<Record<string, string>>, local = false): string {
  const names = Object.keys(values);
  const value = names.map((n) => `WHEN '${n}' THEN '${values[n]}'`).join(' ');
  return `SELECT set_config(name, CASE name ${value} END, ${local}) FROM pg_settings WHERE name IN (${names.map((n) => `'${n}'`).join(', ')})`;
}

/** Sets each of TIMEOUTS that the server has to 0 for the session. */
export const NEUTRALISE_TIMEOUTS_SQL = setKnownSettingsSql(Object.fromEntries(TIMEOUTS.map((n) => [n, '0'])));
