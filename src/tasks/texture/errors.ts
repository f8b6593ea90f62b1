/** Errors of the texture library. */

/** Thrown when an AbortSignal stops a computation. `name` is 'AbortError', like DOM aborts. */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR';
  constructor(message = 'The texture analysis was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}

export function abortErrorFor(signal: AbortSignal, what = 'texture analysis'): AbortError {
  const reason = signal.reason as unknown;
  const detail = reason instanceof Error ? `: ${reason.message}` : typeof reason === 'string' ? `: ${reason}` : '';
  return new AbortError(`The ${what} was aborted${detail}`, { cause: reason });
}

export function throwIfAborted(signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted) throw abortErrorFor(signal, what);
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

/** A file that could not be decoded; the message names the file and the reason. */
export class ImageDecodeError extends Error {
  readonly file: string;
  readonly reason: string;
  constructor(file: string, reason: string, options?: { cause?: unknown }) {
    super(`${file}: ${reason}`, options);
    this.name = 'ImageDecodeError';
    this.file = file;
    this.reason = reason;
  }
}
