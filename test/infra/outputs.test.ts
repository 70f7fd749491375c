/**
 * The outputs the CLI reads (lib/stack-outputs.ts): every shipped configuration's template has the
 * stack-wide outputs and one JSON output per database naming that database's own functions, and
 * parseStackOutputs reads them back as CloudFormation would hand them over (Refs resolved).
 */
import { loadConfig } from '../../lib/config';
import { CliError } from '../../cli/errors';
import { EXIT } from '../../cli/contract';
import { databaseOutputId, OUTPUTS, parseStackOutputs, databaseOutputs } from '../../lib/stack-outputs';
import { synthConfig } from './synth';

/** What CloudFormation would return for an output value: Refs become the logical id, Fn::Join joined. */
function resolve(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, any>;
  if (v.Ref) return `ref:${v.Ref}`;
  if (v['Fn::Join']) return (v['Fn::Join'][1] as unknown[]).map(resolve).join(v['Fn::Join'][0]);
  if (v['Fn::GetAtt']) return `att:${v['Fn::GetAtt'].join('.')}`;
  throw new Error(`unexpected output value ${JSON.stringify(value)}`);
}

describe('stack outputs for the CLI (examples/5-event-platform.json)', () => {
  const config = loadConfig('examples/5-event-platform.json');
  const { template } = synthConfig('examples/5-event-platform.json');
  const outputs = template.findOutputs('*');
  const values = Object.fromEntries(Object.entries(outputs).map(([id, o]) => [id, resolve((o as { Value: unknown }).Value)]));

  it('writes the stack-wide outputs and one per database, and they parse', () => {
    for (const name of Object.values(OUTPUTS)) expect(values[name]).toBeDefined();
    const parsed = parseStackOutputs('Pgdr', values);
    const db = config.databases[0];
    expect(Object.keys(parsed.databases)).toEqual(config.databases.map((d) => d.name));
    const found = databaseOutputs(parsed, db.name);
    expect(found.backupClasses).toEqual(db.backupClasses.map((c) => c.name));
    expect(found.backupClasses).toContain('predeploy');
    // Each names a Lambda function of the template (the database's own).
    const functions = template.findResources('AWS::Lambda::Function');
    for (const fn of [found.dumpFunction, found.verifyFunction, found.monitorFunction]) {
      const id = fn.replace(/^ref:/, '');
      expect(functions[id]).toBeDefined();
    }
    expect(new Set([found.dumpFunction, found.verifyFunction, found.monitorFunction]).size).toBe(3);
    expect(found.dumpFunction).toMatch(/DumpJob/);
    expect(found.verifyFunction).toMatch(/VerifyJob/);
    expect(found.monitorFunction).toMatch(/Monitor/);
  });

  it('gives distinct, valid logical ids to names that differ only in punctuation', () => {
    const ids = ['ab', 'a-b', 'a_b', 'shop-db'].map(databaseOutputId);
    expect(new Set(ids).size).toBe(4);
    for (const id of ids) expect(id).toMatch(/^Database[A-Za-z0-9]{1,246}$/);
  });

  it('names the missing output and what to do', () => {
    const rest = { ...values };
    delete rest.FailoverStateMachine;
    expect(() => parseStackOutputs('Pgdr', rest)).toThrow(CliError);
    try {
      parseStackOutputs('Pgdr', rest);
    } catch (err) {
      expect((err as CliError).message).toBe('stack Pgdr has no output FailoverStateMachine: deployed with an older pgdr? run npx cdk deploy');
      expect((err as CliError).exitCode).toBe(EXIT.environment);
    }
  });
});
