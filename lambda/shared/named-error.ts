/**
 * The base of pgdr's own errors: `name` is their stable identity, what Step Functions' Retry/Catch
 * match (`InvalidInput`, `CutoverFailed`...), what logs report as `errorType`, and what the CLI
 * reads. `class CutoverFailed extends namedError('CutoverFailed') {}`.
 */
export function namedError(name: string) {
  return class extends Error {
    constructor(message: string) {
      super(message);
      this.name = name;
    }
  };
}
