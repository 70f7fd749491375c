/**
 * The generated runbook (cli/runbook, `pgdr runbook`): for every shipped configuration it names every
 * alarm the synthesized template creates and every state of the failover definition, the RPO and RTO
 * of each database, a Mermaid diagram with every state and no dangling edge, and commands that use
 * the stack's outputs when known and clearly marked placeholders otherwise.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { loadConfig, PgdrConfig } from '../../lib/config';
import { recoverySourcesOf } from '../../lib/database-alarms';
import { Definition, failoverDefinition, synthesize, TemplateJson } from '../../lib/synthesize';
import { registerRunbook } from '../../cli/commands/runbook';
import { CliError } from '../../cli/errors';
import { EXIT } from '../../cli/contract';
import { resolveTemplateString, stackAlarms } from '../../cli/runbook/alarms';
import { escapeMermaid, mermaidFlowchart, transitions } from '../../cli/runbook/mermaid';
import { outputPlaceholder, renderRunbook, RunbookInput } from '../../cli/runbook/render';
import { SHIPPED_CONFIGS } from '../infra/synth';

const root = join(__dirname, '..', '..');
const AT = new Date('2026-11-26T03:00:00Z');

interface Synthesized {
  readonly config: PgdrConfig;
  readonly template: TemplateJson;
  readonly definition: Definition;
}
const synthesized = new Map<string, Synthesized>();

beforeAll(() => {
  for (const path of SHIPPED_CONFIGS) {
    const config = loadConfig(join(root, path));
    const { template } = synthesize(config);
    synthesized.set(path, { config, template, definition: failoverDefinition(template, { account: '<account>', region: '<region>' }) });
  }
}, 600_000);

function outputsFor(config: PgdrConfig): Record<string, string> {
  return {
    FailoverStateMachine: `arn:aws:states:eu-west-1:123456789012:stateMachine:FailoverStateMachine-${config.stackName}`,
    BackupBucket: `${config.stackName.toLowerCase()}-vaultdumps-1a2b3c`,
    CriticalTopic: `arn:aws:sns:eu-west-1:123456789012:${config.stackName}-critical`,
  };
}

function inputFor(path: string, outputs?: Record<string, string>): RunbookInput {
  const s = synthesized.get(path)!;
  return { ...s, configPath: path, outputs, outputsNote: outputs ? undefined : 'no credentials (test)', generatedAt: AT };
}

/** The alarm names of a template, read independently of the runbook code. */
function templateAlarmNames(template: TemplateJson, stackName: string): string[] {
  return Object.values(template.Resources)
    .filter((r) => r.Type === 'AWS::CloudWatch::Alarm' || r.Type === 'AWS::CloudWatch::CompositeAlarm')
    .map((r) => resolveTemplateString(r.Properties?.AlarmName, stackName));
}

/** The Mermaid block of a runbook: node ids defined, edges (from, to), and node labels. */
function mermaidOf(markdown: string): { nodes: Map<string, string>; edges: Array<[string, string]> } {
  const block = /```mermaid\n([\s\S]*?)\n```/.exec(markdown);
  if (!block) throw new Error('no mermaid block');
  const nodes = new Map<string, string>();
  const edges: Array<[string, string]> = [];
  for (const line of block[1].split('\n').slice(1)) {
    const edge = /^\s*(\w+)(?:\(\("[^"]*"\)\))? -\.?->(?:\|"[^"]*"\|)? (\w+)(?:\(\("[^"]*"\)\))?$/.exec(line);
    if (edge) {
      edges.push([edge[1], edge[2]]);
      const start = /^\s*(\w+)\(\("([^"]*)"\)\)/.exec(line);
      if (start) nodes.set(start[1], start[2]);
      const end = /(\w+)\(\("([^"]*)"\)\)$/.exec(line);
      if (end) nodes.set(end[1], end[2]);
      continue;
    }
    const node = /^\s*(\w+)[[({]+"([^"]*)"[\])}]+(?::::\w+)?$/.exec(line);
    if (node) nodes.set(node[1], node[2]);
    else if (!/^\s*classDef /.test(line)) throw new Error(`unexpected mermaid line: ${line}`);
  }
  return { nodes, edges };
}

describe.each(SHIPPED_CONFIGS)('runbook of %s', (path) => {
  let withOutputs: string;
  let withoutOutputs: string;
  let s: Synthesized;
  beforeAll(() => {
    s = synthesized.get(path)!;
    withOutputs = renderRunbook(inputFor(path, outputsFor(s.config)));
    withoutOutputs = renderRunbook(inputFor(path));
  });

  it('names every alarm and composite alarm of the template, each with its severity and what to do', () => {
    const names = templateAlarmNames(s.template, s.config.stackName);
    expect(names.length).toBeGreaterThan(s.config.databases.length * 10);
    const missing = names.filter((n) => !withOutputs.includes(`#### \`${n}\``));
    expect(missing).toEqual([]);
    for (const alarm of stackAlarms(s.template, s.config.stackName, s.config.databases.map((d) => d.name))) {
      const section = withOutputs.slice(withOutputs.indexOf(`#### \`${alarm.name}\``)).split('\n#### ')[0];
      expect(alarm.severity).toBeDefined();
      expect(section).toContain(`**${alarm.severity}**`);
      expect(section).toContain(alarm.summary);
      expect(section).toMatch(/What to do \(docs\/alarms\.md, "[^"]+"\):\n\n- /);
    }
  });

  it('groups the alarms by database: each database section lists its own', () => {
    for (const db of s.config.databases) {
      const start = withOutputs.indexOf(`## Database \`${db.name}\``);
      const end = withOutputs.indexOf('\n## ', start + 1);
      const section = withOutputs.slice(start, end);
      expect(section).toContain(`#### \`${s.config.stackName}-${db.name}-rpo\``);
      expect(section).toContain(`#### \`${s.config.stackName}-${db.name}-at-risk\``);
    }
    const stackWide = withOutputs.slice(withOutputs.indexOf('## Stack-wide alarms'));
    expect(stackWide).toContain(`#### \`${s.config.stackName}-failover-failed\``);
  });

  it('names every state of the failover definition, in the table and in the diagram', () => {
    const states = Object.keys(s.definition.States);
    expect(states.length).toBeGreaterThan(30);
    expect(states.filter((n) => !withOutputs.includes(`| \`${n}\` |`))).toEqual([]);
    const { nodes } = mermaidOf(withOutputs);
    const labels = [...nodes.values()].map((l) => l.split('<br/>')[0]);
    expect(states.filter((n) => !labels.includes(escapeMermaid(n)))).toEqual([]);
  });

  it('draws a Mermaid flowchart with every transition and no dangling edge', () => {
    const { nodes, edges } = mermaidOf(withOutputs);
    expect(edges.filter(([from, to]) => !nodes.has(from) || !nodes.has(to))).toEqual([]);
    const expected = transitions(s.definition).length + 1 /* start */ + Object.values(s.definition.States).filter((st) => st.End).length;
    expect(edges).toHaveLength(expected);
    // Every state is reached by some edge (the start arrow reaches StartAt).
    const idOf = new Map([...nodes].map(([id, label]) => [label.split('<br/>')[0], id]));
    const reached = new Set(edges.map(([, to]) => to));
    expect(Object.keys(s.definition.States).filter((n) => !reached.has(idOf.get(n)!))).toEqual([]);
  });

  it('states the RPO and RTO of each database, its schedules and retention', () => {
    for (const db of s.config.databases) {
      expect(withOutputs).toContain(`**RPO ${db.rpo.text}** (${db.rpo.seconds} s)`);
      expect(withOutputs).toContain(`**RTO ${db.rto.text}** (${db.rto.seconds} s)`);
      for (const cls of db.backupClasses) {
        const row = withOutputs.split('\n').find((l) => l.startsWith(`| \`${cls.name}\` |`));
        expect(row).toBeDefined();
        if (cls.schedule) expect(row).toContain(`\`${cls.schedule.expression}\` | ${cls.schedule.timeZone} |`);
        expect(row).toContain(`expires after ${cls.retention.expireAfterDays} d`);
      }
      expect(withOutputs).toContain(`s3://${outputsFor(s.config).BackupBucket}/${db.name}/latest-verified.json`);
    }
  });

  it('gives the exact failover and drill commands for each source the database supports, with the stack outputs', () => {
    const outputs = outputsFor(s.config);
    for (const key of Object.keys(outputs)) expect(withOutputs).not.toContain(outputPlaceholder(key, s.config.stackName));
    for (const db of s.config.databases) {
      const sources = recoverySourcesOf(db);
      for (const source of ['pitr', 'snapshot', 'dump'] as const) {
        const cli = `pgdr failover ${db.name} --source ${source}\n`;
        const aws = `aws stepfunctions start-execution --state-machine-arn "${outputs.FailoverStateMachine}" --name "${db.name}-failover-$(date -u +%Y%m%dT%H%M%SZ)" --input '{"database":"${db.name}","source":"${source}"}'`;
        const drill = `--input '{"database":"${db.name}","source":"${source}","mode":"drill"}'`;
        if (sources.includes(source)) {
          expect(withOutputs).toContain(cli);
          expect(withOutputs).toContain(aws);
          expect(withOutputs).toContain(`pgdr failover ${db.name} --source ${source} --drill`);
          expect(withOutputs).toContain(drill);
        } else {
          expect(withOutputs).not.toContain(cli);
        }
      }
      expect(withOutputs).toContain('https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/statemachines/view/');
    }
  });

  it('writes clearly marked placeholders and says why when the outputs are unknown', () => {
    const placeholder = outputPlaceholder('FailoverStateMachine', s.config.stackName);
    expect(withoutOutputs).toContain('**Stack outputs unknown**: no credentials (test).');
    expect(withoutOutputs.indexOf('Stack outputs unknown')).toBeLessThan(withoutOutputs.indexOf('## Stack'));
    expect(withoutOutputs).toContain(`--state-machine-arn "${placeholder}"`);
    expect(withoutOutputs).toContain(`s3://${outputPlaceholder('BackupBucket', s.config.stackName)}/`);
    expect(withoutOutputs).not.toContain(outputsFor(s.config).BackupBucket);
  });

  it('rolls back exactly the configured cutover targets; names only log groups the stack creates', () => {
    for (const db of s.config.databases) {
      const cut = db.failover.cutover;
      if (cut.secretArn) {
        expect(withOutputs).toContain(`SECRET='${cut.secretArn}'`);
        expect(withOutputs).toContain('aws secretsmanager update-secret-version-stage --secret-id "$SECRET" --version-stage AWSCURRENT --move-to-version-id "$PREVIOUS" --remove-from-version-id "$CURRENT"');
      }
      if (cut.ssmParameterName) expect(withOutputs).toContain(`aws ssm put-parameter --name '${cut.ssmParameterName}' --overwrite --value file://previous-value.txt`);
      if (cut.route53) expect(withOutputs).toContain(`aws route53 change-resource-record-sets --hosted-zone-id ${cut.route53.hostedZoneId}`);
      if (!cut.secretArn && !cut.ssmParameterName && !cut.route53) expect(withOutputs).toContain(`No cutover target is configured for \`${db.name}\``);
      expect(withOutputs).toContain(`aws rds delete-db-instance --db-instance-identifier pgdr-${db.name}-<execution>-<hash>`);
    }
    const logGroups = new Set(Object.values(s.template.Resources).filter((r) => r.Type === 'AWS::Logs::LogGroup').map((r) => r.Properties?.LogGroupName));
    const named = [...withOutputs.matchAll(/aws logs tail (\S+)/g)].map((m) => m[1]);
    expect(named.length).toBeGreaterThan(0);
    expect(named.filter((n) => !logGroups.has(n))).toEqual([]);
  });
});

describe('the runbook follows the template and the definition, not a list', () => {
  const path = 'pgdr.config.json';

  it('names an alarm added to the template (also one named with an Fn::Join of the stack name)', () => {
    const input = inputFor(path);
    const template: TemplateJson = {
      ...input.template,
      Resources: {
        ...input.template.Resources,
        ExtraAlarm: {
          Type: 'AWS::CloudWatch::Alarm',
          Properties: {
            AlarmName: { 'Fn::Join': ['-', [{ Ref: 'AWS::StackName' }, 'shop', 'replication-lag']] },
            AlarmDescription: '[critical] shop: the replica lags. Runbook: docs/alarms.md, section "Database unreachable or out of connections".',
          },
        },
      },
    };
    const text = renderRunbook({ ...input, template });
    const shop = text.slice(text.indexOf('## Database `shop`'), text.indexOf('## Stack-wide alarms'));
    expect(shop).toContain('#### `Pgdr-shop-replication-lag`');
    expect(shop).toContain('shop: the replica lags.');
  });

  it('draws a state added to the definition, with escaped labels, and refuses a dangling transition', () => {
    const { definition } = inputFor(path);
    const odd = 'Say "hi" | <b>#1</b>';
    const extended: Definition = {
      ...definition,
      States: { ...definition.States, Output: { ...definition.States.Output, End: undefined, Next: odd }, [odd]: { Type: 'Succeed' } },
    };
    const text = renderRunbook({ ...inputFor(path), definition: extended });
    const { nodes, edges } = mermaidOf(text);
    expect([...nodes.values()]).toContain(`${escapeMermaid(odd)}<br/><small>Succeed</small>`);
    expect(escapeMermaid(odd)).not.toMatch(/["|<>]/);
    expect(edges.filter(([a, b]) => !nodes.has(a) || !nodes.has(b))).toEqual([]);
    expect(text).toContain(`| \`${odd.replace(/\|/g, '\\|')}\` |`);
    expect(() => mermaidFlowchart({ ...definition, States: { ...definition.States, Output: { Type: 'Pass', Next: 'Nowhere' } } })).toThrow(/"Nowhere", which is not a state/);
  });
});

describe('pgdr runbook (the command)', () => {
  let dir: string;
  let written: string[];
  let spy: jest.SpyInstance;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgdr-runbook-'));
    written = [];
    spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
  });
  afterEach(() => {
    spy.mockRestore();
    rmSync(dir, { recursive: true, force: true });
  });
  const run = async (args: string[], deps: Parameters<typeof registerRunbook>[1] = {}) => {
    const program = new Command('pgdr').exitOverride();
    registerRunbook(program, deps);
    await program.parseAsync(['node', 'pgdr', 'runbook', ...args]);
  };

  it('--out FILE writes the runbook with the deployed outputs and prints one line saying where', async () => {
    const out = join(dir, 'RUNBOOK.md');
    const asked: string[] = [];
    const outputs = outputsFor(synthesized.get('examples/4-school-admissions.json')!.config);
    await run(['--config', join(root, 'examples/4-school-admissions.json'), '--out', out], {
      loadOutputs: async (stack) => {
        asked.push(stack);
        return outputs;
      },
    });
    expect(asked).toEqual(['PgdrAdmissions']);
    expect(written).toEqual([`wrote the runbook to ${out}\n`]);
    const text = readFileSync(out, 'utf8');
    expect(text).toMatch(/^# pgdr runbook: stack `PgdrAdmissions`/);
    expect(text).toContain(`--state-machine-arn "${outputs.FailoverStateMachine}"`);
    expect(text).not.toContain('Stack outputs unknown');
  });

  it('still prints the runbook when the outputs cannot be read, saying why in one line', async () => {
    await run(['--config', join(root, 'examples/1-ticketing-club.json')], {
      loadOutputs: async () => {
        throw new Error('stack PgdrTicketing is not deployed in eu-central-1\n(details)');
      },
    });
    const text = written.join('');
    expect(text).toContain('**Stack outputs unknown**: the outputs of stack PgdrTicketing could not be read: stack PgdrTicketing is not deployed in eu-central-1.');
    expect(text).not.toContain('(details)');
    expect(text).toContain('<FailoverStateMachine output of stack PgdrTicketing>');
    expect(text).toContain('**RPO 24h**');
  });

  it('--local does not ask AWS', async () => {
    const loadOutputs = jest.fn();
    await run(['--config', join(root, 'pgdr.config.json'), '--local'], { loadOutputs });
    expect(loadOutputs).not.toHaveBeenCalled();
    expect(written.join('')).toContain('**Stack outputs unknown**: generated with --local, the deployed stack was not asked.');
  });

  it('without a configuration file: one clear line, usage exit code', async () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      await expect(run([])).rejects.toMatchObject({ exitCode: EXIT.usage, message: expect.stringMatching(/^there is no pgdr\.config\.json: the runbook is generated from a configuration/) });
    } finally {
      process.chdir(cwd);
    }
    const missing = join(dir, 'none.json');
    await expect(run(['--config', missing])).rejects.toMatchObject({ exitCode: EXIT.usage, message: expect.stringContaining('cannot read the configuration file') });
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, JSON.stringify({ databases: [] }));
    const err = await run(['--config', broken]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect(err).toMatchObject({ exitCode: EXIT.usage });
  });
});
