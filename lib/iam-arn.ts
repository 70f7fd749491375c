/** What pgdr accepts as a break-glass principal: an IAM role, an IAM user, or an account's root user. */
export const BREAK_GLASS_ARN_RE = /^arn:aws[a-z-]*:iam::\d{12}:(root|role\/[\w+=,.@/-]+|user\/[\w+=,.@/-]+)$/;
/** The rule {@link BREAK_GLASS_ARN_RE} enforces, for error messages. */
export const BREAK_GLASS_ARN_RULE =
  'must be the ARN of an IAM role, an IAM user or an account root, without wildcards (e.g. "arn:aws:iam::123456789012:role/pgdr-break-glass")';
