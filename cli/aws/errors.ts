/**
 * Every AWS error of the CLI as ONE clear line with an exit code (cli/contract.ts EXIT): what
 * failed, on what, and what to do. Lines go through redactOutput: no password, no task token.
 */
import { EXIT } from '../contract';
import { CliError } from '../errors';
import { redactOutput } from '../shared';

/** What was being done when the error happened (named in the line). */
export interface AwsCallContext {
  /** The API operation, e.g. `cloudformation:DescribeStacks`. */
  readonly operation: string;
  /** What it was done on: a stack, function, state machine or execution. */
  readonly resource?: string;
  /** For "stack not deployed". */
  readonly stackName?: string;
  readonly region?: string;
}

interface AwsLikeError {
  readonly name?: string;
  readonly code?: string;
  readonly message?: string;
  readonly Code?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

const CREDENTIAL_ERRORS = new Set(['CredentialsProviderError', 'TokenProviderError']);
const REJECTED_CREDENTIALS = new Set([
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'InvalidAccessKeyId',
  'AuthFailure',
]);
const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'AuthorizationError', 'AuthorizationErrorException', 'KMSAccessDeniedException']);
const THROTTLED = new Set(['Throttling', 'ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded', 'SlowDown', 'ProvisionedThroughputExceededException']);
const NETWORK = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'TimeoutError', 'RequestTimeout']);
/** The SDK wraps a socket error as "AWS SDK error wrapper for Error: connect ECONNREFUSED …". */
const NETWORK_IN_MESSAGE = /\b(ECONNREFUSED|ENOTFOUND|ETIMEDOUT|ECONNRESET|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EPIPE)\b/;

/** One line: newlines folded, redacted, at most 400 characters of the service's message. */
function oneLine(text: string, max = 400): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

const on = (context: AwsCallContext) => (context.resource ? ` on ${context.resource}` : '');

/** The CliError for `err` raised by `context.operation`; a CliError passes through unchanged. */
export function awsCliError(err: unknown, context: AwsCallContext): CliError {
  if (err instanceof CliError) return err;
  const e = (err ?? {}) as AwsLikeError;
  const name = e.name ?? e.Code ?? 'Error';
  const code = e.code ?? '';
  const message = oneLine(String(e.message ?? err).replace(/^AWS SDK error wrapper for \w*Error: /, ''));
  const line = (text: string, exitCode: number) => new CliError(redactOutput(oneLine(text, 1000)), exitCode);

  if (CREDENTIAL_ERRORS.has(name) || /could not load credentials|credential is missing|no credentials/i.test(message)) {
    return line(`no AWS credentials: set AWS_PROFILE (or run aws sso login) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (${context.operation}: ${message})`, EXIT.environment);
  }
  if (/region is missing/i.test(message)) {
    return line(`no AWS region: set AWS_REGION (or a region in the profile of AWS_PROFILE)`, EXIT.environment);
  }
  if (REJECTED_CREDENTIALS.has(name)) {
    return line(`AWS rejected the credentials (${name}): refresh them (aws sso login, new keys) or check AWS_PROFILE: ${message}`, EXIT.environment);
  }
  const missingStack = /Stack with id (\S+) does not exist/.exec(message);
  if (missingStack) {
    const stack = context.stackName ?? missingStack[1];
    return line(`stack ${stack} is not deployed in ${context.region ?? 'this region'}: run npx cdk deploy (or set AWS_REGION to the stack's region)`, EXIT.environment);
  }
  if (ACCESS_DENIED.has(name) || e.$metadata?.httpStatusCode === 403) {
    return line(`no permission: ${context.operation}${on(context)}: ${message}`, EXIT.environment);
  }
  if (THROTTLED.has(name)) {
    return line(`AWS throttled ${context.operation}${on(context)} (${name}): try again in a minute`, EXIT.environment);
  }
  const network = NETWORK.has(code) ? code : NETWORK.has(name) ? name : NETWORK_IN_MESSAGE.exec(message)?.[1];
  if (network) {
    return line(`cannot reach AWS for ${context.operation}${on(context)}: ${network}: ${message}`, EXIT.environment);
  }
  if (name === 'ResourceNotFoundException' && context.operation.startsWith('lambda:')) {
    return line(`${context.resource ?? 'the function'} not found: the stack's outputs name a function that is gone; run npx cdk deploy`, EXIT.environment);
  }
  if (name === 'ExecutionDoesNotExist' || name === 'InvalidArn') {
    return line(`no such execution${on(context)}: give the execution ARN that pgdr failover printed (${message})`, EXIT.usage);
  }
  if (name === 'TaskTimedOut' || name === 'InvalidToken' || name === 'TaskDoesNotExist') {
    return line(`the approval${on(context)} is no longer pending (${name}): the run timed out, was answered or ended`, EXIT.failed);
  }
  return line(`${context.operation}${on(context)} failed: ${name}: ${message}`, EXIT.failed);
}

/** Runs one AWS call; any error becomes {@link awsCliError}'s line. */
export async function awsCall<T>(context: AwsCallContext, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw awsCliError(err, context);
  }
}

export { unknownDatabaseError } from '../resolve';
