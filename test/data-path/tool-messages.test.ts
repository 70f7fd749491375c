/**
 * pgdr reads what the PostgreSQL tools say (error lines, pg_dump's progress in the directory
 * format), so their messages must stay untranslated whatever the caller's locale. Here the caller
 * runs in German (a de_DE.UTF-8 locale compiled into a temporary LOCPATH; Debian's PostgreSQL
 * client ships German messages): the tools still speak English, and the error line is found.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PG_BIN } from '../../local/pg-cluster';
import { startTool } from '../../lambda/shared/pg-process';

let locales: string;
const saved = { LC_ALL: process.env.LC_ALL, LOCPATH: process.env.LOCPATH, LANGUAGE: process.env.LANGUAGE };

beforeAll(() => {
  locales = mkdtempSync(join(tmpdir(), 'pgdr-locale-'));
  // The locale's sources come with Debian's `locales` package (.ci/run installs it).
  expect(existsSync('/usr/share/i18n/locales/de_DE')).toBe(true);
  const built = spawnSync('localedef', ['-i', 'de_DE', '-f', 'UTF-8', join(locales, 'de_DE.UTF-8')], { encoding: 'utf8' });
  expect(built.status).toBe(0);
  process.env.LOCPATH = locales;
  process.env.LC_ALL = 'de_DE.UTF-8';
  process.env.LANGUAGE = 'de';
});

afterAll(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(locales, { recursive: true, force: true });
});

test('the caller speaks German: a tool started directly does, a tool started by pgdr does not', async () => {
  // Control: this environment really translates pg_restore's messages.
  // (child_process reads the real process's environment unless given one; Jest's process.env is a copy.)
  const direct = spawnSync(join(PG_BIN, 'pg_restore'), ['--file=/dev/null', '/nonexistent/archive'], { encoding: 'utf8', env: { ...process.env } });
  expect(direct.stderr).toMatch(/^pg_restore: Fehler: /m);

  const exit = await startTool(PG_BIN, 'pg_restore', ['--file=/dev/null', '/nonexistent/archive']).exited;
  expect(exit.code).not.toBe(0);
  expect(exit.errorLines).toEqual([expect.stringMatching(/^pg_restore: error: could not open input file "\/nonexistent\/archive": No such file or directory$/)]);
});
