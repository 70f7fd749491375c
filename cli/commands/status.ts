/** `pgdr status [database]`: each database's recovery posture against its RPO and RTO. */
import type { Command } from 'commander';
import { BackendOptions, openBackend, requireConfig } from '../backend';
import { configuredDatabase } from '../resolve';
import { redactOutput } from '../shared';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('newest backup and newest verified backup against the RPO, last restore test, last drill/failover and estimated RTO against the RTO, alarms in ALARM')
    .argument('[database]', 'one configured database (default: all)')
    .option('--local', 'read the local vault (.pgdr/s3) instead of the deployed stack')
    .option('--config <path>', 'configuration file (default: pgdr.config.json)')
    .option('--json', 'print the statuses as JSON')
    .action(async (database: string | undefined, options: BackendOptions & { json?: boolean }) => {
      const { config } = requireConfig(options.config);
      if (database !== undefined) configuredDatabase(config, database);
      const backend = await openBackend(options, config);
      try {
        const statuses = await backend.status(database);
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when needed, kept lazy in the bundle (scripts/build-cli.ts)
        const { renderStatusTable } = require('../status') as typeof import('../status');
        process.stdout.write(redactOutput(options.json ? `${JSON.stringify(statuses, null, 2)}\n` : renderStatusTable(statuses)));
      } finally {
        await backend.close();
      }
    });
}
