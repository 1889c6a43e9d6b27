/**
 * An error caused by the user's input (a bad file, a missing folder, a wrong option). The CLI prints its
 * message alone, without a stack trace; anything else is a bug and keeps its stack.
 */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'UserError';
  }
}

/** A file that is not an image we can decode; the message names the problem, the caller names the file. */
export class ImageDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageDecodeError';
  }
}

export const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));
