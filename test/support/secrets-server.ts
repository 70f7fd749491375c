/**
 * A local Secrets Manager for tests of handlers as deployed (their own SDK clients, configured by
 * the environment): an HTTP server on 127.0.0.1 that answers GetSecretValue from a map of secret
 * ids to SecretString, and ResourceNotFoundException for any other id. Stop it with `stop()`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LocalSecretsManager {
  /** `http://127.0.0.1:<port>`, for AWS_ENDPOINT_URL_SECRETS_MANAGER. */
  readonly endpoint: string;
  stop(): Promise<void>;
}

export async function startLocalSecretsManager(values: Readonly<Record<string, string>>): Promise<LocalSecretsManager> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const { SecretId } = JSON.parse(body) as { SecretId: string };
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      if (values[SecretId] === undefined) {
        res.statusCode = 400;
        res.end(JSON.stringify({ __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." }));
        return;
      }
      res.end(JSON.stringify({ ARN: SecretId, Name: 'x', SecretString: values[SecretId], VersionId: 'v1' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The environment a handler's own SDK clients need to use s3rver at `s3Endpoint` and this server at `secretsEndpoint` (test credentials; no real AWS). */
export function localAwsEnv(s3Endpoint: string, secretsEndpoint: string): Record<string, string> {
  return {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_ENDPOINT_URL_S3: s3Endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsEndpoint,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}
