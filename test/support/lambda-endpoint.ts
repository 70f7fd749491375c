/**
 * A tiny local Lambda Invoke endpoint on 127.0.0.1 for the real LambdaClient (`endpoint`, dummy
 * credentials): `POST /2015-03-31/functions/{name}/invocations` runs the handler registered under
 * that name and answers as Lambda does: 200 with the JSON result; a thrown error → 200 with
 * `X-Amz-Function-Error: Unhandled` and `{errorType, errorMessage, trace}`; an unknown function →
 * 404 ResourceNotFoundException; a name in `denied` → 403 AccessDeniedException (the IAM message).
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LambdaClient } from '@aws-sdk/client-lambda';

export type LocalHandler = (event: unknown) => Promise<unknown>;

export interface LambdaEndpoint {
  readonly endpoint: string;
  /** Invocations received: function name and event. */
  readonly invocations: Array<{ name: string; event: unknown }>;
  /** A real LambdaClient pointed at this endpoint (one attempt, like the backend's). */
  client(): LambdaClient;
  stop(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startLambdaEndpoint(handlers: Record<string, LocalHandler>, options: { denied?: string[]; account?: string } = {}): Promise<LambdaEndpoint> {
  const invocations: Array<{ name: string; event: unknown }> = [];
  const account = options.account ?? '123456789012';
  const server: Server = createServer((req, res) => {
    void (async () => {
      const m = /^\/2015-03-31\/functions\/([^/]+)\/invocations/.exec(req.url ?? '');
      if (req.method !== 'POST' || !m) return send(res, 404, { message: `no route ${req.method} ${req.url}` }, { 'x-amzn-errortype': 'UnknownOperationException' });
      const name = decodeURIComponent(m[1]);
      const text = await readBody(req);
      if (options.denied?.includes(name)) {
        return send(
          res,
          403,
          { Type: 'User', message: `User: arn:aws:sts::${account}:assumed-role/oncall/alice is not authorized to perform: lambda:InvokeFunction on resource: arn:aws:lambda:eu-west-1:${account}:function:${name} because no identity-based policy allows the lambda:InvokeFunction action` },
          { 'x-amzn-errortype': 'AccessDeniedException' },
        );
      }
      const handler = handlers[name];
      if (!handler) {
        return send(res, 404, { Type: 'User', message: `Function not found: arn:aws:lambda:eu-west-1:${account}:function:${name}` }, { 'x-amzn-errortype': 'ResourceNotFoundException' });
      }
      const event = text ? JSON.parse(text) : undefined;
      invocations.push({ name, event });
      try {
        send(res, 200, await handler(event), { 'x-amz-executed-version': '$LATEST' });
      } catch (err) {
        const e = err as Error;
        send(res, 200, { errorType: e.name ?? 'Error', errorMessage: e.message, trace: [] }, { 'x-amz-function-error': 'Unhandled', 'x-amz-executed-version': '$LATEST' });
      }
    })().catch((err: unknown) => send(res, 500, { message: String(err) }, { 'x-amzn-errortype': 'ServiceException' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clients: LambdaClient[] = [];
  return {
    endpoint,
    invocations,
    client: () => {
      const client = new LambdaClient({ endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' }, maxAttempts: 1 });
      clients.push(client);
      return client;
    },
    stop: async () => {
      for (const c of clients) c.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
