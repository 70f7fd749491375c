/**
 * A real AWS SDK v3 client whose every command is answered by a middleware before it leaves the
 * process: tests of thin adapters for control-plane APIs that have no local emulator (Secrets
 * Manager, SSM, Route 53, CloudWatch). Records the commands sent.
 */
export type Answer = (command: string, input: Record<string, any>) => Record<string, unknown> | Error;

export interface Stub<C> {
  client: C;
  sent: Array<{ command: string; input: Record<string, any> }>;
}

/** A real client whose every command is answered by `answer` (recorded in `sent`). */
export function stub<C extends { middlewareStack: any }>(client: C, answer: Answer): Stub<C> {
  const sent: Array<{ command: string; input: Record<string, any> }> = [];
  client.middlewareStack.add(
    (_next: unknown, context: { commandName?: string }) => async (args: { input: Record<string, any> }) => {
      const command = context.commandName ?? 'unknown';
      sent.push({ command, input: args.input });
      const out = answer(command, args.input);
      if (out instanceof Error) throw out;
      return { output: { $metadata: {}, ...out }, response: {} };
    },
    { step: 'initialize', name: 'pgdrStubAnswer' },
  );
  return { client, sent };
}

