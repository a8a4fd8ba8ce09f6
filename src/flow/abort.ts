/** Raised when a wait is cancelled through an AbortSignal. `cause` is the signal's reason. */
export class AbortError extends Error {
  constructor(message = 'The operation was aborted', reason?: unknown) {
    super(message, reason === undefined ? undefined : { cause: reason });
    this.name = 'AbortError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

export function isAbortError(err: unknown): err is Error {
  return err instanceof Error && err.name === 'AbortError';
}

export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new AbortError(`${what} aborted`, signal.reason);
}

/** Settles like `promise`, or rejects with an AbortError as soon as the signal aborts. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(new AbortError(`${what} aborted`, signal.reason));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortError(`${what} aborted`, signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** setTimeout as a promise that an AbortSignal cancels (and that clears its timer when it does). */
export function sleep(ms: number, signal: AbortSignal | undefined, what = 'sleep'): Promise<void> {
  if (signal?.aborted) return Promise.reject(new AbortError(`${what} aborted`, signal.reason));
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortError(`${what} aborted`, signal?.reason));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
