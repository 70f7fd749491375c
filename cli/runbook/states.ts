/**
 * One line per failover state for on-call (what docs/failover.md says the state does), keyed by the
 * state names of lib/failover-workflow.ts. States without a note are described from the definition
 * (comment, API or function called).
 */
import { STATES } from '../../lib/failover-workflow';
import type { Definition } from '../../lib/synthesize';

export const STATE_NOTES: Readonly<Record<string, string>> = {
  [STATES.configure]: 'Collects the input, the configured databases and the topics into the run state.',
  [STATES.preflight]: 'Checks the input before anything is created (database, source, time window, snapshot, backup key) and plans the run.',
  [STATES.inputRejected]: 'Writes why the input was rejected.',
  [STATES.notifyRejected]: 'Tells the warning topic that the input was rejected.',
  [STATES.rejected]: 'Ends the run: InvalidInput, the cause names the field and the rule.',
  [STATES.checkTargets]: 'Checks that the cutover targets (secret, SSM parameter, Route 53 record) exist and can be switched.',
  [STATES.chooseSource]: 'Picks the RDS call for the source: pitr (latest or a time), snapshot, or a new instance for a dump.',
  [STATES.restorePitrLatest]: 'RestoreDBInstanceToPointInTime at the latest restorable time.',
  [STATES.restorePitrAt]: 'RestoreDBInstanceToPointInTime at the requested time.',
  [STATES.restoreSnapshot]: 'RestoreDBInstanceFromDBSnapshot.',
  [STATES.createInstance]: 'CreateDBInstance (managed master password, encrypted) for a dump restore.',
  [STATES.wait]: 'Waits before the next status check.',
  [STATES.describe]: 'DescribeDBInstances of the new instance.',
  [STATES.status]: 'available → go on; failed/incompatible-*/storage-full → InstanceFailed; else keep waiting.',
  [STATES.describeCreated]: 'Reads the new instance endpoint and master secret (dump).',
  [STATES.describeRestored]: 'Reads the new instance endpoint (pitr/snapshot).',
  [STATES.clock]: 'Reads the time for the RTO budget.',
  [STATES.budget]: 'Past the hard timeout → RecoveryTimedOut; past the RTO (first time) → tell the critical topic.',
  [STATES.notifyRto]: 'Tells the critical topic: RTO exceeded, still recovering.',
  [STATES.markRto]: 'Remembers that the RTO notice was sent.',
  [STATES.restoreDump]: "The database's restore job: roles, database, pg_restore, the application login.",
  [STATES.validate]: "The database's validate job: counts against the manifest, smoke and freshness queries.",
  [STATES.validated]: 'Validation failed → no cutover, failure path.',
  [STATES.whatNext]: 'Drill → delete the instance; no cutover target → report; approval required → ask; else cut over.',
  [STATES.approvalMessage]: 'Writes the approval request: validation summary and the approve/reject commands.',
  [STATES.approve]: 'Publishes the request with a task token to the critical topic and waits for the answer.',
  [STATES.approved]: 'Only {"approved": true} cuts over.',
  [STATES.cutover]: 'Switches the secret / SSM parameter / Route 53 record to the new instance.',
  [STATES.hasHealthCheck]: 'Probe the health URL when one is configured.',
  [STATES.healthCheck]: 'GETs the health URL until 2xx within its timeout; a failure rolls the cutover back.',
  [STATES.rollback]: 'Undoes exactly what the cutover changed.',
  [STATES.deleteDrill]: "Deletes the drill's instance.",
  [STATES.finish]: 'Writes the recovery record and the RecoverySeconds metric.',
  [STATES.notifySuccess]: 'Tells the warning topic how the run went.',
  [STATES.output]: 'The execution output: endpoint, timings, record key.',
  [STATES.failed]: 'Failure path: clean up what the run created, per plan.deleteOnFailure.',
  [STATES.disableProtection]: 'Turns deletion protection off before deleting a failed failover instance.',
  [STATES.deleteFailed]: "Deletes the failed run's instance.",
  [STATES.report]: 'Writes the recovery record of the failed run.',
  [STATES.notifyFailure]: 'Tells the critical topic (failover) or the warning topic (drill) why the run failed.',
  [STATES.fail]: 'Ends the run: the error names what failed; traffic was not switched.',
};

/** One line on what a state does: its note, its comment, or the API/function it calls. */
export function stateSummary(name: string, state: Definition['States'][string]): string {
  const note = STATE_NOTES[name] ?? state.Comment;
  if (note) return note;
  const resource = state.Resource ?? '';
  const sdk = /:::aws-sdk:([a-z0-9]+):(\w+)/.exec(resource);
  if (sdk) return `${sdk[1]} ${sdk[2]}`;
  if (resource.includes(':::sns:publish')) return 'SNS publish';
  const action = state.Parameters?.action;
  if (resource.includes(':function:')) return `Lambda${typeof action === 'string' ? ` (action ${action})` : ''}`;
  const error = state.Parameters?.Error;
  if (state.Type === 'Pass' && typeof error === 'string') return `Records the failure ${error} for the failure path.`;
  if (state.Type === 'Pass') return 'Updates the run state.';
  return '';
}
