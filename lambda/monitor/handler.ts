/**
 * PLACEHOLDER so the CDK app synthesizes (NodejsFunction needs the entry file); the monitor's
 * real handler (lambda/monitor/handler.ts, issue 7) replaces this file.
 */
export const handler = async (): Promise<void> => {
  throw new Error('the pgdr monitor handler is not built yet (placeholder)');
};
