/** The CLI's surface: commands and options the runbook and the issue promise (and tsc coverage of cli/). */
import { buildProgram } from '../../cli/main';

test('backup and verify exist with their options', () => {
  const program = buildProgram();
  const options = (name: string) => program.commands.find((c) => c.name() === name)!.options.map((o) => o.long);
  expect(options('backup')).toEqual(expect.arrayContaining(['--local', '--source-url', '--class', '--compression', '--config', '--pg-bin', '--json']));
  expect(options('verify')).toEqual(expect.arrayContaining(['--local', '--verify-url', '--source-url', '--config', '--pg-bin', '--json']));
});
