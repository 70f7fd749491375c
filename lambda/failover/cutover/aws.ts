/**
 * AWS adapters of the cutover ports (SDK v3) and the HTTPS health probe.
 *
 * Actions used: secretsmanager:GetSecretValue, DescribeSecret, PutSecretValue,
 * UpdateSecretVersionStage (kms:Decrypt / kms:GenerateDataKey for a customer-managed key);
 * ssm:GetParameter, PutParameter, DeleteParameter (kms:Decrypt / kms:Encrypt for SecureString);
 * route53:GetHostedZone, ListResourceRecordSets, ChangeResourceRecordSets.
 */
import { request as httpsRequest } from 'node:https';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { DeleteParameterCommand, GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { ChangeResourceRecordSetsCommand, GetHostedZoneCommand, ListResourceRecordSetsCommand, Route53Client } from '@aws-sdk/client-route-53';
import type { DnsRecord, DnsTarget, HttpProbe, ParameterTarget, SecretTarget } from './core';

const isNamed = (err: unknown, ...names: string[]): boolean => names.includes((err as { name?: string })?.name ?? '');

export function secretsManagerTarget(client: SecretsManagerClient): SecretTarget {
  return {
    async current(secretId) {
      let value: string | undefined;
      let versionId: string | undefined;
      try {
        const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
        value = out.SecretString;
        versionId = out.VersionId;
      } catch (err) {
        if (isNamed(err, 'ResourceNotFoundException')) return undefined;
        throw err;
      }
      if (value === undefined || !versionId) throw new Error('the secret has no SecretString (binary secrets are not supported)');
      const described = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
      const previous = Object.entries(described.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes('AWSPREVIOUS'));
      return { versionId, value, previousVersionId: previous ? previous[0] : null };
    },
    async put(secretId, value, clientRequestToken) {
      const out = await client.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: value, ClientRequestToken: clientRequestToken }));
      return out.VersionId ?? clientRequestToken;
    },
    async moveCurrent(secretId, toVersionId, fromVersionId) {
      await client.send(new UpdateSecretVersionStageCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT', MoveToVersionId: toVersionId, RemoveFromVersionId: fromVersionId }));
    },
  };
}

export function ssmParameterTarget(client: SSMClient): ParameterTarget {
  return {
    async get(name, version) {
      try {
        const out = await client.send(new GetParameterCommand({ Name: version === undefined ? name : `${name}:${version}`, WithDecryption: true }));
        const p = out.Parameter;
        if (!p || p.Value === undefined || p.Version === undefined) return undefined;
        return { value: p.Value, version: p.Version, type: p.Type ?? 'String' };
      } catch (err) {
        if (isNamed(err, 'ParameterNotFound', 'ParameterVersionNotFound')) return undefined;
        throw err;
      }
    },
    async put(name, value) {
      const out = await client.send(new PutParameterCommand({ Name: name, Value: value, Overwrite: true }));
      if (out.Version === undefined) throw new Error('PutParameter returned no version');
      return out.Version;
    },
    async delete(name) {
      try {
        await client.send(new DeleteParameterCommand({ Name: name }));
      } catch (err) {
        if (!isNamed(err, 'ParameterNotFound')) throw err;
      }
    },
  };
}

/** Route 53 escapes some characters in names as \ddd (octal): compare the decoded, lower-case form. */
function decodeDnsName(name: string): string {
  const decoded = name.replace(/\\(\d{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
  return `${decoded.toLowerCase().replace(/\.+$/, '')}.`;
}

export function route53Target(client: Route53Client): DnsTarget {
  return {
    async zoneName(hostedZoneId) {
      try {
        const out = await client.send(new GetHostedZoneCommand({ Id: hostedZoneId }));
        return out.HostedZone?.Name;
      } catch (err) {
        if (isNamed(err, 'NoSuchHostedZone')) return undefined;
        throw err;
      }
    },
    async recordSets(hostedZoneId, name) {
      const wanted = decodeDnsName(name);
      const found: DnsRecord[] = [];
      let start: { name?: string; type?: string; id?: string } = { name };
      for (;;) {
        const out = await client.send(
          new ListResourceRecordSetsCommand({
            HostedZoneId: hostedZoneId,
            StartRecordName: start.name,
            StartRecordType: start.type as never,
            StartRecordIdentifier: start.id,
            MaxItems: 100,
          }),
        );
        let past = false;
        for (const r of out.ResourceRecordSets ?? []) {
          if (decodeDnsName(r.Name ?? '') !== wanted) {
            past = true;
            break;
          }
          found.push({
            name: wanted,
            type: r.Type ?? '',
            ttl: r.TTL ?? null,
            values: (r.ResourceRecords ?? []).map((v) => v.Value ?? ''),
            alias: r.AliasTarget !== undefined,
            setIdentifier: r.SetIdentifier ?? null,
          });
        }
        if (past || !out.IsTruncated) return found;
        start = { name: out.NextRecordName, type: out.NextRecordType, id: out.NextRecordIdentifier };
      }
    },
    async change(hostedZoneId, action, record) {
      await client.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: hostedZoneId,
          ChangeBatch: {
            Comment: `pgdr cutover: ${action} ${record.name}`,
            Changes: [
              {
                Action: action,
                ResourceRecordSet: { Name: record.name, Type: record.type as never, TTL: record.ttl, ResourceRecords: record.values.map((Value) => ({ Value })) },
              },
            ],
          },
        }),
      );
    },
  };
}

export interface HttpsProbeOptions {
  /** PEM CA certificates to trust instead of Node.js's public roots (tests: a local CA). */
  readonly ca?: string | string[];
}

/** One HTTPS GET per call: resolves the status code, rejects on a connection, TLS or timeout error. */
export function httpsProbe(options: HttpsProbeOptions = {}): HttpProbe {
  return {
    get: (url, timeoutMs) =>
      new Promise<number>((resolve, reject) => {
        let done = false;
        const finish = (fn: () => void) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          fn();
        };
        const req = httpsRequest(url, { method: 'GET', ca: options.ca, headers: { 'user-agent': 'pgdr-health-check' }, agent: false }, (res) => {
          res.resume();
          finish(() => resolve(res.statusCode ?? 0));
        });
        const timer = setTimeout(() => {
          const err = new Error(`no answer within ${timeoutMs} ms`);
          err.name = 'ProbeTimeout';
          finish(() => reject(err));
          req.destroy(err);
        }, timeoutMs);
        req.on('error', (err) => finish(() => reject(err)));
        req.end();
      }),
  };
}
