/**
 * The recovery dashboard of every shipped configuration: one per stack; per database the backup
 * age against an RPO line, restore tests, recoveries and the estimated RTO against an RTO line,
 * sizes, failures and health, and the "at risk" alarms' states on top.
 */
import { loadConfig } from '../../lib/config';
import { SHIPPED_CONFIGS, synthConfig } from './synth';

/** The dashboard body with its tokens flattened to their logical ids (enough to read widgets). */
function body(template: ReturnType<typeof synthConfig>['template']): { widgets: Array<{ type: string; properties: Record<string, any> }> } {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard')) as { Properties: { DashboardBody: unknown } }[];
  expect(dashboards).toHaveLength(1);
  const raw = dashboards[0].Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] };
  const text = raw['Fn::Join'][1].map((p) => (typeof p === 'string' ? p : JSON.stringify(p).replace(/"/g, "'"))).join('');
  return JSON.parse(text);
}

describe.each(SHIPPED_CONFIGS)('%s', (file) => {
  const config = loadConfig(file);
  const { template } = synthConfig(config);
  const widgets = body(template).widgets;

  it('names the stack and shows each database against its RPO and RTO', () => {
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: `${config.stackName}-recovery` });
    for (const db of config.databases) {
      const age = widgets.find((w) => w.properties.title === `${db.name}: newest verified backup age vs RPO (hours)`);
      expect(age?.properties.annotations.horizontal).toEqual([expect.objectContaining({ value: db.rpo.seconds / 3600 })]);
      const rto = widgets.find((w) => w.properties.title === `${db.name}: restore tests, recoveries and estimated RTO vs RTO (minutes)`);
      expect(rto?.properties.annotations.horizontal).toEqual([expect.objectContaining({ value: db.rto.seconds / 60 })]);
      expect(JSON.stringify(rto?.properties.metrics)).toContain('EstimatedRtoSeconds');
      expect(JSON.stringify(rto?.properties.metrics)).toContain('RestoreTestSeconds');
      expect(JSON.stringify(rto?.properties.metrics)).toContain('RecoverySeconds');
      for (const title of ['backup sizes', 'failures', 'health']) expect(widgets.map((w) => w.properties.title)).toContain(`${db.name}: ${title}`);
    }
    const status = widgets.find((w) => w.properties.title === 'pgdr alarms');
    expect(status?.properties.alarms).toHaveLength(config.databases.length);
  });
});
