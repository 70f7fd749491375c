/**
 * TLS to the database as configured (`source.tls`) and as deployed: the field's defaults and
 * validation at synth (errors name the field), and what the jobs receive in their environment
 * (PGDR_PG_SSLMODE, PGDR_PG_SSLROOTCERT); a configured PEM file travels in the function's code.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { BackupVault } from '../../lib/backup-vault';
import { JobTls, PgdrFunction } from '../../lib/pgdr-function';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { addPgdr } from '../../lib/app';
import { ConfigError, loadConfig, parseConfig } from '../../lib/config';
import { synthConfig, TEST_CONTEXT } from './synth';
import { TestPki } from '../support/test-pki';

const tmp = mkdtempSync(join(tmpdir(), 'pgdr-tls-config-'));
const pki = new TestPki();
const caFile = pki.ca('private-ca');
afterAll(() => {
  pki.remove();
  rmSync(tmp, { recursive: true, force: true });
});

const RDS_SOURCE = {
  type: 'rds',
  instanceIdentifier: 'shop-prod',
  secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgdr/shop-AbCdEf',
  engineMajorVersion: 15,
};
const EXTERNAL_SOURCE = { type: 'external', secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgdr/shop-AbCdEf', engineMajorVersion: 15 };

function config(source: Record<string, unknown>, extra: Record<string, unknown> = {}): any {
  return {
    ...extra,
    databases: [
      {
        name: 'shop',
        source,
        rpo: '24h',
        rto: '1h',
        backupClasses: [{ name: 'daily', schedule: { expression: 'cron(0 3 * * ? *)' }, retention: { expireAfterDays: 90 } }],
      },
    ],
  };
}

function problems(raw: unknown): string[] {
  try {
    parseConfig(raw, 'test.json');
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected the configuration to be rejected');
}

function writeConfig(raw: unknown): string {
  const file = join(mkdtempSync(join(tmp, 'cfg-')), 'pgdr.config.json');
  writeFileSync(file, JSON.stringify(raw));
  return file;
}

/** The environment of the dump and verify functions. */
function jobEnvironments(template: Template): Array<Record<string, unknown>> {
  return Object.values(template.findResources('AWS::Lambda::Function'))
    .filter((r) => /^pgdr (dump|verify) job/.test(r.Properties.Description ?? ''))
    .map((r) => r.Properties.Environment.Variables);
}

describe('source.tls in the configuration', () => {
  it('defaults RDS sources to verify-full with the RDS CA bundle, external ones to verify-full with the public CAs', () => {
    expect(parseConfig(config(RDS_SOURCE)).databases[0].source.tls).toEqual({ mode: 'verify-full', caBundle: 'rds' });
    expect(parseConfig(config(EXTERNAL_SOURCE)).databases[0].source.tls).toEqual({ mode: 'verify-full', caBundle: 'public' });
  });

  it('takes a mode and a PEM file of the project, relative to the working directory or absolute', () => {
    const rel = relative(process.cwd(), caFile);
    expect(parseConfig(config({ ...EXTERNAL_SOURCE, tls: { mode: 'verify-ca', caBundle: rel } })).databases[0].source.tls).toEqual({ mode: 'verify-ca', caBundle: rel });
    expect(parseConfig(config({ ...RDS_SOURCE, tls: { mode: 'require' } })).databases[0].source.tls).toEqual({ mode: 'require', caBundle: 'rds' });
  });

  it('rejects an unknown mode, a missing file and a file that is not PEM certificates, naming the field', () => {
    expect(problems(config({ ...EXTERNAL_SOURCE, tls: { mode: 'prefer' } }))).toEqual([
      expect.stringMatching(/^databases\[0\]\.source\.tls\.mode: .*"verify-full".*"verify-ca".*"require".*"disable".* \(received "prefer"\)$/),
    ]);
    const missing = join(tmp, 'missing.pem');
    expect(problems(config({ ...EXTERNAL_SOURCE, tls: { caBundle: missing } }))).toEqual([
      `databases[0].source.tls.caBundle: must be "rds", "public" or a PEM file of CA certificates, but the file cannot be read (ENOENT) (received "${missing}")`,
    ]);
    const key = join(pki.dir, 'private-ca.key');
    expect(problems(config({ ...EXTERNAL_SOURCE, tls: { caBundle: key } }))).toEqual([
      `databases[0].source.tls.caBundle: must be "rds", "public" or a PEM file of CA certificates, but the file holds no PEM certificate (-----BEGIN CERTIFICATE----- block) (received "${key}")`,
    ]);
    const corrupt = join(tmp, 'corrupt.pem');
    writeFileSync(corrupt, readFileSync(caFile, 'utf8').replace(/\n[A-Za-z0-9+/]{20}/, '\nAAAAAAAAAAAAAAAAAAAA'));
    expect(problems(config({ ...EXTERNAL_SOURCE, tls: { caBundle: corrupt } }))).toEqual([
      expect.stringMatching(/^databases\[0\]\.source\.tls\.caBundle: .*but the file certificate 1 of 1 does not parse as X\.509 \(.*\) \(received ".*corrupt\.pem"\)$/),
    ]);
    expect(problems(config({ ...EXTERNAL_SOURCE, tls: { mode: 'verify-full', ca: 'rds' } }))).toEqual([
      'databases[0].source.tls.ca: unknown key (check the spelling; allowed keys are listed in the README)',
    ]);
  });

  it('says that sslmode was replaced by tls', () => {
    expect(problems(config({ ...RDS_SOURCE, sslmode: 'require' }))).toEqual([
      'databases[0].source.sslmode: was replaced by "tls": { "mode": ..., "caBundle": ... } (see the README, "TLS to the database") (received "require")',
    ]);
  });

  it('an RDS source on a local tools directory packed without the RDS CA bundle fails at synth, naming the field', () => {
    const dir = join(tmp, 'pg15-layer');
    mkdirSync(join(dir, 'bin'), { recursive: true });
    mkdirSync(join(dir, 'lib'));
    for (const t of ['pg_dump', 'pg_restore', 'psql']) writeFileSync(join(dir, 'bin', t), `\x7fELF ${t} (PostgreSQL) 15.4\0`, { mode: 0o755 });
    const raw = config(RDS_SOURCE, { pgTools: { directories: { '15': dir } } });
    expect(problems(raw)).toEqual([
      'databases[0].source.tls.caBundle: is "rds" (the default for RDS sources), which needs the RDS CA bundle in the tools layer, but pgTools.directories["15"] has no ' +
        'share/pgdr/rds-global-bundle.pem: pack it with scripts/pack-pg-tools.sh --ca-bundle global-bundle.pem, or set a PEM file (received nothing)',
    ]);
    expect(parseConfig(config({ ...RDS_SOURCE, tls: { caBundle: 'public' } }, { pgTools: { directories: { '15': dir } } })).databases[0].source.tls.caBundle).toBe('public');
  });
});

describe('what the jobs receive', () => {
  it('RDS-source jobs (examples/2-retail-inventory.json): verify-full with the RDS CA bundle of the tools layer', () => {
    const { template } = synthConfig('examples/2-retail-inventory.json');
    const envs = jobEnvironments(template);
    expect(envs).toHaveLength(2);
    for (const env of envs) expect(env).toMatchObject({ PGDR_PG_SSLMODE: 'verify-full', PGDR_PG_SSLROOTCERT: '/opt/share/pgdr/rds-global-bundle.pem' });
  });

  it('external-source jobs (pgdr.config.json): verify-full with the public CAs', () => {
    const envs = jobEnvironments(synthConfig('pgdr.config.json').template);
    expect(envs).toHaveLength(2);
    for (const env of envs) expect(env).toMatchObject({ PGDR_PG_SSLMODE: 'verify-full', PGDR_PG_SSLROOTCERT: 'public' });
  });

  it('a configured mode reaches the jobs', () => {
    const file = writeConfig(config({ ...RDS_SOURCE, tls: { mode: 'verify-ca' } }));
    for (const env of jobEnvironments(synthConfig(file).template)) expect(env).toMatchObject({ PGDR_PG_SSLMODE: 'verify-ca', PGDR_PG_SSLROOTCERT: '/opt/share/pgdr/rds-global-bundle.pem' });
  });

  it('a configured PEM file is copied into each function (real bundling) and named by path in its environment', () => {
    const file = writeConfig(config({ ...EXTERNAL_SOURCE, tls: { caBundle: caFile } }));
    const outdir = mkdtempSync(join(tmp, 'bundled-'));
    const context = { ...TEST_CONTEXT };
    delete context['aws:cdk:bundling-stacks'];
    const app = new App({ outdir, context });
    const stack = addPgdr(app, loadConfig(file));
    app.synth();
    const template = Template.fromJSON(JSON.parse(readFileSync(join(outdir, `${stack.artifactId}.template.json`), 'utf8')));
    const functions = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('^pgdr (dump|verify) job') } }));
    expect(functions).toHaveLength(2);
    for (const fn of functions) {
      expect(fn.Properties.Environment.Variables).toMatchObject({ PGDR_PG_SSLMODE: 'verify-full', PGDR_PG_SSLROOTCERT: '/var/task/pgdr-ca.pem' });
      const asset = join(outdir, `asset.${String(fn.Properties.Code.S3Key).replace(/\.zip$/, '')}`);
      expect(existsSync(join(asset, 'index.js'))).toBe(true);
      expect(readFileSync(join(asset, 'pgdr-ca.pem'))).toEqual(readFileSync(caFile));
    }
  });
});

describe('PgdrFunction tls prop (the construct API)', () => {
  /** A dump job whose tools layer ships no RDS CA bundle (like a host build without rdsCaBundleFile). */
  function make(tls: JobTls): () => PgdrFunction {
    const app = new App({ outdir: mkdtempSync(join(tmp, 'fn-')), context: TEST_CONTEXT });
    const stack = new Stack(app, 'Test');
    const layer = lambda.LayerVersion.fromLayerVersionArn(stack, 'Layer', 'arn:aws:lambda:eu-west-1:123456789012:layer:pg15:1');
    return () =>
      new PgdrFunction(stack, 'Job', {
        job: 'dump',
        database: 'shop',
        secret: secretsmanager.Secret.fromSecretCompleteArn(stack, 'Secret', EXTERNAL_SOURCE.secretArn),
        vault: new BackupVault(stack, 'Vault'),
        pgTools: { layer, binDir: '/opt/bin', architecture: lambda.Architecture.X86_64 },
        vpc: new ec2.Vpc(stack, 'Vpc', { natGateways: 0 }),
        tls,
      });
  }

  it('refuses "rds" when the layer ships no RDS CA bundle, an unknown mode and a file that is not PEM, naming the prop', () => {
    expect(make({ caBundle: 'rds' })).toThrow(/^tls\.caBundle: "rds" needs the RDS CA bundle in the PostgreSQL client tools layer, and this layer ships none .*\(received "rds"\)$/);
    expect(make({ mode: 'prefer' as never })).toThrow('tls.mode: must be one of verify-full, verify-ca, require, disable (received "prefer")');
    expect(make({ caBundle: join(pki.dir, 'private-ca.key') })).toThrow(/^tls\.caBundle: must be "rds", "public" or a PEM file of CA certificates, but the file holds no PEM certificate/);
  });

  it('defaults to verify-full with the public CAs', () => {
    const fn = make({})();
    const env = Template.fromStack(Stack.of(fn)).findResources('AWS::Lambda::Function', { Properties: { Description: 'pgdr dump job of shop' } });
    expect(Object.values(env)[0].Properties.Environment.Variables).toMatchObject({ PGDR_PG_SSLMODE: 'verify-full', PGDR_PG_SSLROOTCERT: 'public' });
  });
});
