import { expect } from 'vitest';
import { UserError } from '../../src/errors.ts';

/** The UserError message of a rejected promise (fails the test if it resolves or throws something else). */
export async function userError(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => {
      throw new Error('expected a UserError, but it succeeded');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UserError);
  return (error as UserError).message;
}
