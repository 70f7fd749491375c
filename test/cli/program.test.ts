/** The CLI's surface: commands and options the runbook and the issue promise (and tsc coverage of cli/). */
import { tmpdir } from 'node:os';
import { buildProgram, packageVersion } from '../../cli/main';
import { runPgdr } from '../support/cli';

test('backup and verify exist with their options', () => {
  const program = buildProgram();
  const options = (name: string) => program.commands.find((c) => c.name() === name)!.options.map((o) => o.long);
  expect(options('backup')).toEqual(expect.arrayContaining(['--local', '--source-url', '--class', '--compression', '--config', '--pg-bin', '--json']));
  expect(options('verify')).toEqual(expect.arrayContaining(['--local', '--verify-url', '--source-url', '--config', '--pg-bin', '--json']));
});

test('pgdr --version prints the package version and exits 0', async () => {
  expect(packageVersion()).toMatch(/^\d+\.\d+\.\d+/);
  for (const flag of ['--version', '-V']) {
    const run = await runPgdr(tmpdir(), [flag]);
    expect(run).toEqual({ code: 0, stdout: `${packageVersion()}\n`, stderr: '' });
  }
});
