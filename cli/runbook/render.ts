/**
 * The generated runbook (`pgdr runbook`): Markdown that is true to one configuration, its
 * synthesized template and state machine, and — when known — the deployed stack's outputs. Per
 * database: objectives, schedules, retention, where backups live, verification, every alarm with
 * what it means and what to do, the exact commands and console path to start a failover or a drill
 * from each source, the validation checklist, approval, rollback and cleanup. Then the stack-wide
 * alarms, a Mermaid diagram of the failover workflow drawn from the definition, and a post-incident
 * template. Nothing here talks to AWS: outputs are given (or placeholders are written).
 */
import type { FailoverInput, RecoverySource } from '../../lambda/failover/contract';
import { classPrefix, databasePrefix, latestVerifiedKey } from '../../lambda/shared/layout';
import type { DatabaseConfig, PgdrConfig } from '../../lib/config';
import { formatSeconds } from '../../lib/config';
import { databaseThresholds, detectionPlan, recoverySourcesOf } from '../../lib/database-alarms';
import { defaultDrillSource } from '../../lib/drill-schedules';
import { recoverySettings } from '../../lib/recovery-settings';
import type { Definition, TemplateJson } from '../../lib/synthesize';
import { ACTIONS, ActionContext, sectionKey } from './actions';
import { resolveTemplateString, StackAlarm, stackAlarms } from './alarms';
import { mermaidFlowchart, terminal, transitions } from './mermaid';
import { stateSummary } from './states';

export interface RunbookInput {
  readonly config: PgdrConfig;
  /** The configuration file the runbook was generated from (shown in the header). */
  readonly configPath: string;
  readonly template: TemplateJson;
  /** The failover state machine's definition (lib/synthesize.ts failoverDefinition). */
  readonly definition: Definition;
  /** The deployed stack's outputs (OutputKey → OutputValue), when known. */
  readonly outputs?: Record<string, string>;
  /** Why the outputs are unknown (printed near the top when `outputs` is absent). */
  readonly outputsNote?: string;
  readonly generatedAt: Date;
}

/** The stack outputs the runbook's commands use. */
export const RUNBOOK_OUTPUTS = ['FailoverStateMachine', 'BackupBucket', 'CriticalTopic'] as const;

/** The placeholder written for an output that is not known. */
export const outputPlaceholder = (key: string, stackName: string) => `<${key} output of stack ${stackName}>`;

const code = (text: string) => `\`${text}\``;
/** Text safe in a Markdown table cell. */
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const fence = (lang: string, lines: string[]) => ['', `\`\`\`${lang}`, ...lines, '```', ''];
const duration = (seconds: number) => `${formatSeconds(seconds)} (${seconds} s)`;
const SOURCE_TITLES: Record<RecoverySource, string> = {
  pitr: 'RDS point-in-time restore (`pitr`)',
  snapshot: 'RDS snapshot (`snapshot`)',
  dump: 'verified pgdr dump (`dump`)',
};

class Writer {
  readonly lines: string[] = [];
  add(...lines: string[]): this {
    this.lines.push(...lines);
    return this;
  }
}

/** The runbook as Markdown. */
export function renderRunbook(input: RunbookInput): string {
  const { config, template, definition } = input;
  const stackName = config.stackName;
  const output = (key: string) => input.outputs?.[key] ?? outputPlaceholder(key, stackName);
  const stateMachine = output('FailoverStateMachine');
  const bucket = output('BackupBucket');
  const dashboard = templateNames(template, 'AWS::CloudWatch::Dashboard', 'DashboardName', stackName)[0] ?? `${stackName}-recovery`;
  const logGroups = new Set(templateNames(template, 'AWS::Logs::LogGroup', 'LogGroupName', stackName));
  const alarms = stackAlarms(template, stackName, config.databases.map((d) => d.name));
  const context = (db?: DatabaseConfig): ActionContext => ({
    db,
    stackName,
    bucket,
    stateMachine,
    dashboard,
    logGroup: (job) => logGroupOf(logGroups, stackName, job === 'failover' ? undefined : db?.name, job),
  });
  const w = new Writer();

  w.add(`# pgdr runbook: stack ${code(stackName)}`, '');
  w.add(
    `Generated ${input.generatedAt.toISOString()} by ${code('pgdr runbook')} from ${code(input.configPath)} and the stack it synthesizes` +
      `${input.outputs ? ' and the deployed stack\'s outputs' : ''}. Regenerate it after every configuration change or deploy; do not edit it by hand.`,
    '',
  );
  if (!input.outputs) {
    w.add(
      `> **Stack outputs unknown**: ${input.outputsNote ?? 'they were not read'}.`,
      `> Commands below carry placeholders such as ${code(outputPlaceholder('FailoverStateMachine', stackName))}; read the values with`,
      `> ${code(`aws cloudformation describe-stacks --stack-name ${stackName} --query "Stacks[0].Outputs"`)} or run ${code('pgdr runbook')} again with AWS credentials.`,
      '',
    );
  }

  w.add('## Contents', '', '- In an incident', '- Stack', ...config.databases.map((d) => `- Database ${code(d.name)}`), '- Stack-wide alarms', '- The failover workflow', '- Post-incident review template', '');

  incident(w, config, stackName, dashboard);
  stack(w, input, output, dashboard, stackName);
  for (const db of config.databases) {
    database(w, db, {
      stackName,
      stateMachine,
      bucket,
      topic: output('CriticalTopic'),
      vault: config.vault,
      alarms: alarms.filter((a) => a.database === db.name),
      context: context(db),
    });
  }

  w.add('## Stack-wide alarms', '');
  const stackWide = alarms.filter((a) => a.database === undefined);
  if (stackWide.length === 0) w.add('None.', '');
  alarmList(w, stackWide, context());

  workflow(w, definition);
  postIncident(w, stackName);
  return `${w.lines.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}

/** Names of the template's resources of one type (DashboardName, LogGroupName...), resolved. */
function templateNames(template: TemplateJson, type: string, property: string, stackName: string): string[] {
  return Object.values(template.Resources)
    .filter((r) => r.Type === type && r.Properties?.[property] !== undefined)
    .flatMap((r) => {
      try {
        return [resolveTemplateString(r.Properties?.[property], stackName)];
      } catch {
        return [];
      }
    });
}

function logGroupOf(known: Set<string>, stackName: string, database: string | undefined, job: string): string {
  const name = `/pgdr/${stackName}/${database ? `${database}/` : ''}${job}`;
  return known.has(name) || known.size === 0 ? name : `<log group of the ${database ?? stackName} ${job} job>`;
}

function incident(w: Writer, config: PgdrConfig, stackName: string, dashboard: string): void {
  const first = config.databases[0].name;
  w.add('## In an incident', '');
  w.add(
    `1. **See**: ${code(`pgdr status`)} (every database against its RPO/RTO, alarms in ALARM) and the CloudWatch dashboard ${code(dashboard)}.`,
    `2. **Find the alarm** below (alarms are named ${code(`${stackName}-<database>-<what>`)}) and do what it says.`,
    `3. **Database lost?** Fail over from the best source of that database (section "Failover and drills"), e.g. ${code(`pgdr failover ${first} --source ${recoverySourcesOf(config.databases[0])[0]}`)}; it restores, validates and — after approval — cuts over.`,
    `4. **Approve** the cutover once the validation summary is right: ${code('pgdr approve <execution>')}; **roll back** with the database's "Rollback" steps if the application misbehaves.`,
    `5. **Clean up** and write the post-incident review (template at the end).`,
    '',
  );
}

function stack(w: Writer, input: RunbookInput, output: (key: string) => string, dashboard: string, stackName: string): void {
  const { config } = input;
  w.add('## Stack', '');
  w.add('| Output | Value |', '| --- | --- |');
  const keys = [...new Set([...RUNBOOK_OUTPUTS, ...Object.keys(input.template.Outputs ?? {}), ...Object.keys(input.outputs ?? {})])];
  for (const key of keys) {
    const description = input.template.Outputs?.[key]?.Description;
    w.add(`| ${code(key)} | ${cell(`${code(output(key))}${description ? ` — ${description}` : ''}`)} |`);
  }
  w.add('');
  const vault = config.vault;
  w.add(
    `- Dashboard: ${code(dashboard)} (CloudWatch console → Dashboards). Logs: log groups under ${code(`/pgdr/${stackName}/`)}.`,
    `- Vault: Object Lock ${vault.objectLock.mode} ${vault.objectLock.days} days on every object version; replaced or deleted versions kept ${vault.noncurrentVersionExpirationDays} days; removal policy ${code(vault.removalPolicy)}.`,
  );
  for (const severity of ['critical', 'warning'] as const) {
    const t = config.paging[severity];
    const who = [...t.emails, ...(t.httpsEndpoints.length ? [`${t.httpsEndpoints.length} HTTPS endpoint(s)`] : []), ...(t.httpsEndpointSecrets.length ? [`${t.httpsEndpointSecrets.length} HTTPS endpoint(s) from Secrets Manager`] : [])];
    w.add(`- Paging, ${severity}: ${who.length ? who.join(', ') : 'no subscribers (subscribe someone: nobody is paged)'}.`);
  }
  w.add('');
}

interface DatabaseContext {
  readonly stackName: string;
  readonly stateMachine: string;
  readonly bucket: string;
  readonly topic: string;
  readonly vault: PgdrConfig['vault'];
  readonly alarms: StackAlarm[];
  readonly context: ActionContext;
}

function database(w: Writer, db: DatabaseConfig, c: DatabaseContext): void {
  const name = db.name;
  const thresholds = databaseThresholds(db);
  const plan = detectionPlan(db.rpo.seconds);
  const settings = recoverySettings(db);
  const sources = recoverySourcesOf(db);
  const pitr = db.source.type === 'rds' && db.source.pointInTimeRecovery;

  w.add(`## Database ${code(name)}`, '');
  if (db.description) w.add(db.description, '');
  w.add(
    `Source: ${db.source.type === 'rds' ? `RDS instance ${code(db.source.instanceIdentifier)}${pitr ? ' with point-in-time recovery' : ' without point-in-time recovery'}` : 'external PostgreSQL'}, PostgreSQL ${db.source.engineMajorVersion}, port ${db.source.port}, connection secret ${code(db.source.secretArn)}.`,
    '',
  );

  w.add('### Objectives', '');
  w.add(
    `- **RPO ${db.rpo.text}** (${db.rpo.seconds} s): ${
      pitr
        ? `measured as the PITR lag (now − LatestRestorableTime); the ${code(`${c.stackName}-${name}-rpo`)} alarm fires above ${duration(thresholds.rpo.thresholdSeconds)}.`
        : `measured as the age of the newest verified backup; the ${code(`${c.stackName}-${name}-rpo`)} alarm fires above ${duration(thresholds.rpo.thresholdSeconds)} (the RPO + the dump and verify run time).`
    } The monitor samples every ${formatSeconds(plan.monitorIntervalSeconds)}; a breach pages within ${formatSeconds(plan.worstCaseSeconds)}.`,
    `- **RTO ${db.rto.text}** (${db.rto.seconds} s): from the start of a failover to a validated instance. A run tells the critical topic when the RTO passes and gives up at the hard timeout, ${duration(settings.hardTimeoutSeconds)}.`,
    `- Drills: ${db.drill.schedule ? `scheduled ${code(db.drill.schedule.expression)} (${db.drill.schedule.timeZone}) from ${code(db.drill.source ?? defaultDrillSource(db.source))}` : 'not scheduled (run them by hand)'}; the ${code(`${c.stackName}-${name}-no-recent-drill`)} alarm fires when no drill succeeded for ${db.drill.maxAge.text}.`,
    '',
  );

  w.add('### Backups', '');
  w.add('| Class | Schedule | Time zone | Retention |', '| --- | --- | --- | --- |');
  for (const cls of db.backupClasses) {
    const r = cls.retention;
    const retention = [
      r.standardIaAfterDays ? `Standard-IA after ${r.standardIaAfterDays} d` : undefined,
      r.glacierIrAfterDays ? `Glacier IR after ${r.glacierIrAfterDays} d` : undefined,
      `expires after ${r.expireAfterDays} d`,
    ].filter(Boolean);
    w.add(`| ${code(cls.name)} | ${cls.schedule ? code(cls.schedule.expression) : `on demand: ${code(`pgdr backup ${name} --class ${cls.name}`)}`} | ${cls.schedule?.timeZone ?? '—'} | ${retention.join(', ')} |`);
  }
  w.add('');
  w.add(
    `Where they live, in the bucket ${code(c.bucket)}:`,
    '',
    `- Dumps: ${code(`s3://${c.bucket}/${classPrefix(name, '<class>')}YYYY/MM/DD/${name}_<class>_<timestamp>.dump`)}, next to each its ${code('.manifest.json')}, ${code('.verification.json')} and ${code('.globals.sql')} (the roles it needs, no passwords).`,
    `- The newest verified backup: ${code(`s3://${c.bucket}/${latestVerifiedKey(name)}`)}; read it with ${code(`aws s3 cp s3://${c.bucket}/${latestVerifiedKey(name)} -`)}.`,
    `- Recovery records (drills and failovers): ${code(`s3://${c.bucket}/${databasePrefix(name)}recoveries/YYYY/MM/<execution>.json`)}.`,
    `- Newest backups: ${code(`aws s3 ls s3://${c.bucket}/${databasePrefix(name)} --recursive | grep manifest.json | tail -5`)}; take one now: ${code(`pgdr backup ${name} --class ${db.backupClasses[0].name}`)}.`,
    '',
  );

  const v = db.verification;
  w.add('### Verification', '');
  w.add(
    `- Every new backup: its size and SHA-256 against the manifest, and ${code('pg_restore --list')}.`,
    `- Restore test (scratch database on ${v.serverSecretArn ? `the server of ${code(v.serverSecretArn)}` : 'the source server'}; row and object counts against the manifest, smoke queries, timed): ${
      v.restoreTestEveryNth === 0 ? 'not per backup' : v.restoreTestEveryNth === 1 ? 'every backup' : `every ${v.restoreTestEveryNth}th backup`
    }${v.restoreTestSchedule ? `, and on ${code(v.restoreTestSchedule.expression)} (${v.restoreTestSchedule.timeZone})` : ''}.`,
    `- Smoke queries: ${v.smokeQueries.length ? v.smokeQueries.map((q) => `${q.name} (${code(q.sql)}, at least ${q.minRows} row(s))`).join('; ') : 'none configured'}.`,
    `- Verify by hand: ${code(`pgdr verify ${name}`)} (the newest backup) or ${code(`pgdr verify ${name} --key <dump key>`)}. A backup counts only once verified.`,
    '',
  );

  w.add('### Alarms', '');
  alarmList(w, c.alarms, c.context);

  failoverSection(w, db, c, sources, settings);
}

function alarmList(w: Writer, alarms: StackAlarm[], context: ActionContext): void {
  for (const alarm of alarms) {
    const key = sectionKey(alarm.section);
    w.add(`#### ${code(alarm.name)}`, '');
    w.add(`${alarm.composite ? 'Composite alarm' : 'Alarm'}, **${alarm.severity ?? 'unknown severity'}**${alarm.severity ? ` (notifies the ${alarm.severity} topic, again when it returns to OK)` : ''}. ${alarm.summary}`, '');
    if (key) {
      w.add(`What to do (${alarm.runbook}, "${alarm.section}"):`, '');
      for (const step of ACTIONS[key](context)) w.add(`- ${step}`);
    } else {
      w.add(`What to do: not a pgdr alarm section${alarm.section ? ` ("${alarm.section}")` : ''}; see its description in the CloudWatch console.`);
    }
    w.add('');
  }
}

function failoverSection(w: Writer, db: DatabaseConfig, c: DatabaseContext, sources: RecoverySource[], settings: ReturnType<typeof recoverySettings>): void {
  const name = db.name;
  const arn = c.stateMachine;
  const region = /^arn:aws[a-z-]*:states:([a-z0-9-]+):/.exec(arn)?.[1];
  const start = (input: FailoverInput, mode: string) =>
    `aws stepfunctions start-execution --state-machine-arn "${arn}" --name "${name}-${mode}-$(date -u +%Y%m%dT%H%M%SZ)" --input '${JSON.stringify(input)}'`;
  const options: Record<RecoverySource, { cli: string; key: keyof FailoverInput; example: string; what: string }> = {
    pitr: { cli: '--time', key: 'restoreTime', example: '2026-11-25T03:15:00Z', what: 'restore to a given time (default: the latest restorable time)' },
    snapshot: { cli: '--snapshot', key: 'snapshotIdentifier', example: '<snapshot identifier>', what: 'a given snapshot of the source instance (default: the newest available)' },
    dump: { cli: '--key', key: 'backupKey', example: `${classPrefix(name, db.backupClasses[0].name)}YYYY/MM/DD/<manifest or dump>`, what: 'a given verified backup, e.g. the pre-deploy one (default: the latest verified)' },
  };

  w.add('### Failover and drills', '');
  w.add(
    `Sources for ${code(name)}: ${sources.map((s) => code(s)).join(', ')}${db.source.type === 'external' ? ' (an external database can only be recovered from its dumps)' : ''}. ` +
      `A run creates ${code(`pgdr-${name}-<execution>-<hash>`)} (${settings.instance.instanceClass}${settings.instance.multiAz ? ', multi-AZ' : ''}), waits for it within the RTO, validates it, ` +
      `${settings.requireApproval ? `waits for an approval (up to ${formatSeconds(settings.approvalTimeoutSeconds)})` : 'does not wait for an approval (failover.requireApproval is false)'}, cuts over and records the measured time. A drill never cuts over and deletes its instance.`,
    '',
  );
  for (const source of sources) {
    const o = options[source];
    w.add(`#### From a ${SOURCE_TITLES[source]}`, '');
    w.add('Failover:');
    w.add(...fence('sh', [`pgdr failover ${name} --source ${source}`, start({ database: name, source }, 'failover')]));
    w.add('Drill (restores and validates, never cuts over, deletes the instance):');
    w.add(...fence('sh', [`pgdr failover ${name} --source ${source} --drill`, start({ database: name, source, mode: 'drill' }, 'drill')]));
    w.add(`Option: ${o.what}: ${code(`${o.cli} ${o.example}`)} in ${code('pgdr failover')}, ${code(`"${o.key}": "${o.example}"`)} in the input.`, '');
  }
  w.add(
    `\`pgdr drill ${name}\` runs a drill from ${code(db.drill.source ?? defaultDrillSource(db.source))} and prints its report. Without approval: ${code('--no-approval')} / ${code('"approval": "skip"')}.`,
    '',
    `Console: Step Functions console${region ? ` (region ${region})` : ''} → State machines → ${region ? code(arn.split(':').pop() ?? arn) : `the state machine of output ${code('FailoverStateMachine')}`} → **Start execution** → name ${code(`${name}-failover-<UTC time>`)}, input as above (e.g. ${code(JSON.stringify({ database: name, source: sources[0] }))}) → **Start execution**. Watch it in the execution's graph view or with ${code('pgdr failover')}, which follows it state by state.`,
  );
  if (region) w.add('', `Direct link: https://${region}.console.aws.amazon.com/states/home?region=${region}#/statemachines/view/${encodeURIComponent(arn)}`);
  w.add('');

  const val = settings.validation;
  w.add('### Validation checklist', '', `The ${code('Validate')} state checks the new instance; any failure ends the run with ${code('ValidationFailed')} and no cutover:`, '');
  w.add(
    ...(sources.includes('dump') ? [`- [ ] \`dump\`: every table's row count and every object count (indexes, views, functions, ...) equal the backup's manifest.`] : []),
    ...(sources.some((s) => s !== 'dump') ? [`- [ ] \`pitr\`/\`snapshot\`: every table and object kind of the newest verified manifest exists; no table lost more than ${val.rowLossTolerancePercent} % of its rows (counts shown side by side).`] : []),
    ...(val.smokeQueries.length ? val.smokeQueries.map((q) => `- [ ] smoke query "${q.name}": ${code(q.sql)} returns at least ${q.minRows} row(s).`) : ['- [ ] smoke queries: none configured (add `verification.smokeQueries`).']),
    ...(val.freshnessQueries.length
      ? val.freshnessQueries.map((q) => `- [ ] freshness query "${q.name}": ${code(q.sql)} returns a timestamp no older than the recovery point minus the RPO (${db.rpo.text}).`)
      : ['- [ ] freshness queries: none configured (add `failover.validation.freshnessQueries`).']),
    `- [ ] before cutover, check the summary yourself: the row counts you expect, the newest business record, the application's own health.`,
    '',
  );

  w.add('### Approval', '');
  w.add(
    settings.requireApproval
      ? `A failover of ${code(name)} stops after validation and publishes the validation summary and a task token to the critical topic (${code(c.topic)}). It waits ${formatSeconds(settings.approvalTimeoutSeconds)}; then it ends without cutover.`
      : `failover.requireApproval is false: a failover of ${code(name)} cuts over right after validation unless its input says ${code('"approval": "required"')}.`,
  );
  w.add(
    ...fence('sh', [
      'pgdr approve <execution ARN>',
      'pgdr reject <execution ARN>',
      `aws stepfunctions send-task-success --task-token "<token from the approval message>" --task-output '{"approved":true}'`,
      'aws stepfunctions send-task-failure --task-token "<token from the approval message>" --error Rejected --cause "why"',
    ]),
  );

  rollback(w, db, c);

  w.add('### Cleanup', '');
  w.add(
    `A drill deletes its instance. A failed run deletes what it created per ${code('failover.deleteOnFailure')} = ${code(settings.deleteOnFailure)}${settings.deleteOnFailure === 'drill-only' ? ' (a failed failover keeps its instance for forensics)' : ''}. After a failover, the old source stays as it was: retire it deliberately. Leftovers:`,
  );
  w.add(
    ...fence('sh', [
      `aws rds describe-db-instances --query "DBInstances[?starts_with(DBInstanceIdentifier, 'pgdr-${name}-')].[DBInstanceIdentifier,DBInstanceStatus,InstanceCreateTime,DeletionProtection]" --output table`,
      '# a failover instance has deletion protection on:',
      `aws rds modify-db-instance --db-instance-identifier pgdr-${name}-<execution>-<hash> --no-deletion-protection --apply-immediately`,
      `aws rds delete-db-instance --db-instance-identifier pgdr-${name}-<execution>-<hash> --skip-final-snapshot --delete-automated-backups`,
    ]),
  );
}

function rollback(w: Writer, db: DatabaseConfig, c: DatabaseContext): void {
  const cut = db.failover.cutover;
  const name = db.name;
  w.add('### Rollback', '');
  if (!cut.secretArn && !cut.ssmParameterName && !cut.route53) {
    w.add(`No cutover target is configured for ${code(name)}: a failover stops at a validated instance (its endpoint is in the execution output) and nothing is switched; switching and switching back are manual.`, '');
    return;
  }
  w.add(
    `A failed health check rolls the cutover back by itself. To go back by hand (the application misbehaves on the new instance), undo each target; the recovery record ${code(`s3://${c.bucket}/${databasePrefix(name)}recoveries/YYYY/MM/<execution>.json`)} holds in ${code('cutover')} what was changed and the previous versions.`,
    '',
  );
  if (cut.secretArn) {
    w.add(`Application secret ${code(cut.secretArn)}: the value before the cutover is the version staged ${code('AWSPREVIOUS')}; move ${code('AWSCURRENT')} back to it:`);
    w.add(
      ...fence('sh', [
        `SECRET='${cut.secretArn}'`,
        `PREVIOUS=$(aws secretsmanager list-secret-version-ids --secret-id "$SECRET" --query "Versions[?contains(VersionStages, 'AWSPREVIOUS')].VersionId | [0]" --output text)`,
        `CURRENT=$(aws secretsmanager list-secret-version-ids --secret-id "$SECRET" --query "Versions[?contains(VersionStages, 'AWSCURRENT')].VersionId | [0]" --output text)`,
        'aws secretsmanager update-secret-version-stage --secret-id "$SECRET" --version-stage AWSCURRENT --move-to-version-id "$PREVIOUS" --remove-from-version-id "$CURRENT"',
      ]),
    );
  }
  if (cut.ssmParameterName) {
    w.add(`SSM parameter ${code(cut.ssmParameterName)}: put back the version before the cutover's (${code('cutover.ssm.version')} − 1 in the record; below, the second newest), through a file so no password reaches a command line:`);
    w.add(
      ...fence('sh', [
        `aws ssm get-parameter-history --name '${cut.ssmParameterName}' --with-decryption --query "Parameters[-2].[Version,LastModifiedDate]" --output text`,
        `printf '%s' "$(aws ssm get-parameter-history --name '${cut.ssmParameterName}' --with-decryption --query "Parameters[-2].Value" --output text)" > previous-value.txt`,
        `aws ssm put-parameter --name '${cut.ssmParameterName}' --overwrite --value file://previous-value.txt && rm previous-value.txt`,
      ]),
    );
  }
  if (cut.route53) {
    const r = cut.route53;
    const fqdn = r.recordName.endsWith('.') ? r.recordName : `${r.recordName}.`;
    w.add(`Route 53 record ${code(r.recordName)} in zone ${code(r.hostedZoneId)} (TTL ${r.ttl.text}): the old value is ${code('cutover.route53.previous')} in the record (${code('null')}: the record did not exist — DELETE it instead). Check, then UPSERT it back:`);
    w.add(
      ...fence('sh', [
        `aws route53 list-resource-record-sets --hosted-zone-id ${r.hostedZoneId} --query "ResourceRecordSets[?Name=='${fqdn}']"`,
        `aws route53 change-resource-record-sets --hosted-zone-id ${r.hostedZoneId} --change-batch '${JSON.stringify({
          Changes: [{ Action: 'UPSERT', ResourceRecordSet: { Name: fqdn, Type: 'CNAME', TTL: r.ttl.seconds, ResourceRecords: [{ Value: '<previous value>' }] } }],
        })}'`,
      ]),
    );
  }
  w.add('Applications that cache the connection must reconnect (restart them) to see the old endpoint.', '');
}

function workflow(w: Writer, definition: Definition): void {
  const names = Object.keys(definition.States);
  w.add('## The failover workflow', '');
  w.add(
    `Drawn from the synthesized state machine: ${names.length} states, starting at ${code(definition.StartAt)}${definition.TimeoutSeconds ? `, execution timeout ${formatSeconds(definition.TimeoutSeconds)}` : ''}. Solid arrows: the normal path and choices; dotted: errors caught. Red: the run fails; green: it ends.`,
  );
  w.add(...fence('mermaid', mermaidFlowchart(definition).split('\n')));
  const next = new Map<string, string[]>();
  for (const t of transitions(definition)) next.set(t.from, [...(next.get(t.from) ?? []), `${t.to}${t.kind === 'catch' ? ' (on error)' : ''}`]);
  w.add('| State | Type | What it does | Next |', '| --- | --- | --- | --- |');
  for (const name of names) {
    const state = definition.States[name];
    const end = terminal(state);
    const following = [...new Set(next.get(name) ?? [])].join(', ');
    w.add(`| ${cell(code(name))} | ${state.Type} | ${cell(stateSummary(name, state))} | ${end === 'fail' ? '**fails the run**' : end === 'succeed' ? '**end**' : cell(following)} |`);
  }
  w.add('');
}

function postIncident(w: Writer, stackName: string): void {
  w.add('## Post-incident review template', '');
  w.add(
    ...fence('markdown', [
      `# Incident <date>: <database> (stack ${stackName})`,
      '',
      '- Detected: <time, UTC> by <alarm name / person>',
      '- Impact: <what users saw, from when to when>',
      '- Decision: failover / restore / wait — by <who> at <time>',
      '- Execution: <execution ARN>, source <pitr|snapshot|dump>, recovery point <time or backup key>',
      '- Measured: RTO <start → validated / cut over, from the recovery record> vs target <rto>; data lost: <now − recovery point> vs RPO <rpo>',
      '- Validation: <summary; row counts; smoke and freshness queries>',
      '- Cutover: <targets switched; rollback needed?>',
      '- Cleanup: <instances deleted, old source retired or kept>',
      '',
      '## Timeline',
      '',
      '| Time (UTC) | What happened |',
      '| --- | --- |',
      '',
      '## What went well / what went wrong',
      '',
      '## Actions (owner, due date)',
      '',
      '- [ ] ',
    ]),
  );
}
