/**
 * Secrets Manager adapter: reads the connection secret (RDS convention: host, port, dbname,
 * username, password), or any secret as a JSON object (the `SecretReader` port). Action used:
 * secretsmanager:GetSecretValue (plus kms:Decrypt when the secret is encrypted with a
 * customer-managed key). Errors name the secret, never its value.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConnectionError, ConnectionInfo, connectionFromSecret, TlsDefaults } from './connection';
import type { SecretReader } from './ports';

export async function readConnectionSecret(client: SecretsManagerClient, secretId: string, tls?: TlsDefaults): Promise<ConnectionInfo> {
  let secretString: string | undefined;
  try {
    const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    secretString = out.SecretString;
  } catch (err) {
    throw new ConnectionError(`cannot read secret ${secretId}: ${(err as Error).name}: ${(err as Error).message}`);
  }
  if (secretString === undefined) throw new ConnectionError(`secret ${secretId} has no SecretString`);
  return connectionFromSecret(secretString, secretId, tls);
}

/** The secret `secretId` as a JSON object (e.g. an RDS-managed master secret: username and password only). */
export async function secretJson(client: SecretsManagerClient, secretId: string): Promise<Record<string, unknown>> {
  let text: string | undefined;
  try {
    text = (await client.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString;
  } catch (err) {
    throw new ConnectionError(`cannot read secret ${secretId}: ${(err as Error).name}: ${(err as Error).message}`);
  }
  try {
    const doc: unknown = JSON.parse(text ?? '');
    if (doc && typeof doc === 'object' && !Array.isArray(doc)) return doc as Record<string, unknown>;
  } catch {
    // the same message below, without the text
  }
  throw new ConnectionError(`secret ${secretId} is not a JSON object`);
}

/** The `SecretReader` port over Secrets Manager; the client is created on first use (no side effect at import). */
export function secretsManagerReader(client?: SecretsManagerClient): SecretReader {
  let sm = client;
  return { json: (secretId) => secretJson((sm ??= new SecretsManagerClient({})), secretId) };
}
