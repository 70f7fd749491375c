/**
 * When a job (dump, verify) must stop early and clean up after itself: the container's signal
 * (container/entry.ts: SIGTERM, the ECS task is stopping) and a deadline shortly before the Lambda
 * timeout (a Lambda stopped at its timeout cannot abort its upload, kill pg_restore or drop its
 * scratch database).
 */

/** The part of the Lambda context (or the container entry's stand-in) a job reads. */
export interface JobContext {
  getRemainingTimeInMillis?(): number;
  /** Stop (and clean up) when this aborts. */
  readonly signal?: AbortSignal;
}

/** Aborts `ms` milliseconds from now with the reason "deadline reached" (the timer does not keep the process alive). */
export function deadlineSignal(ms: number): AbortSignal {
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error('deadline reached')), Math.max(0, ms)).unref();
  return controller.signal;
}

/** Why `signal` aborted, in words: its reason's message (an Error), else the reason itself. */
export function abortReason(signal: AbortSignal): string {
  return signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'aborted');
}

/** The context's signal and/or a deadline `marginMs` before its remaining time runs out; undefined when it has neither. */
export function jobSignal(context: JobContext | undefined, marginMs = 30_000): AbortSignal | undefined {
  const remaining = context?.getRemainingTimeInMillis?.();
  const signals = [context?.signal, remaining ? deadlineSignal(remaining - marginMs) : undefined].filter((s): s is AbortSignal => s !== undefined);
  return signals.length > 1 ? AbortSignal.any(signals) : signals[0];
}
