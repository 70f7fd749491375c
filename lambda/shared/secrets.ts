/**
 * Secrets Manager adapter: reads the connection secret (RDS convention: host, port, dbname,
 * username, password). Action used: secretsmanager:GetSecretValue (plus kms:Decrypt when the
 * secret is encrypted with a customer-managed key).
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConnectionError, ConnectionInfo, connectionFromSecret, TlsDefaults } from './connection';

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
