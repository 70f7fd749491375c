/**
 * A SecretReader over a plain map of secret ARNs to JSON texts (test inputs: the values a
 * Secrets Manager secret would hold), with the Secrets Manager adapter's error for an unknown ARN.
 */
import { ConnectionError } from '../../lambda/shared/connection';
import type { SecretReader } from '../../lambda/shared/ports';

export function secretMap(values: Record<string, string>): SecretReader {
  return {
    json: async (arn) => {
      const text = values[arn];
      if (text === undefined) throw new ConnectionError(`cannot read secret ${arn}: ResourceNotFoundException`);
      const doc: unknown = JSON.parse(text);
      if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new ConnectionError(`secret ${arn} is not a JSON object`);
      return doc as Record<string, unknown>;
    },
  };
}
