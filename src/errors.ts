/**
 * A user's mistake: missing data, a bad flag, a broken policy file. The CLI prints
 * `message` (which says what was wrong, where, and what to do) without a stack trace
 * and exits 2. Anything else thrown is a bug and keeps its stack.
 */
export class UserError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

export function isUserError(error: unknown): error is UserError {
  return error instanceof UserError;
}
