// @ts-check
/** Delays and waits: the two backoff schedules, and a sleep that an AbortSignal cuts short. */

/** Reconnect schedule after a dropped or failed voice connection (issue 8: 1 s, 2 s, 4 s). */
export const RECONNECT_DELAYS_MS = Object.freeze([1000, 2000, 4000]);

/** First pause before asking the key service again after a 429/503. */
export const MINT_BACKOFF_BASE_MS = 500;
/** Longest pause we choose ourselves; a longer Retry-After is still honoured (or we give up). */
export const MINT_BACKOFF_MAX_MS = 8000;
/** +-20 % spread, so many pages that failed together do not come back together. */
const JITTER = 0.2;

/**
 * How long to wait before mint attempt `attempt + 1`: exponential (0.5, 1, 2, 4, 8 s), with
 * jitter, and never less than the service's Retry-After.
 * @param {number} attempt attempts made so far (1 after the first failure)
 * @param {number | null} retryAfterS
 * @param {() => number} [random]
 */
export function mintRetryDelayMs(attempt, retryAfterS, random = Math.random) {
  const exponential = Math.min(MINT_BACKOFF_BASE_MS * 2 ** (attempt - 1), MINT_BACKOFF_MAX_MS);
  const jittered = exponential * (1 - JITTER + 2 * JITTER * random());
  const floor = retryAfterS == null ? 0 : retryAfterS * 1000;
  return Math.round(Math.max(jittered, floor));
}

/**
 * @callback Sleep
 * @param {number} ms
 * @param {AbortSignal} [signal]
 * @returns {Promise<void>}
 */

/** @type {Sleep} */
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * `promise`, or a rejection with `onTimeout()` after `ms`.
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @param {() => Error} onTimeout
 * @returns {Promise<T>}
 */
export function withTimeout(promise, ms, onTimeout) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return /** @type {Promise<T>} */ (Promise.race([promise, timeout])).finally(() => clearTimeout(timer));
}

/**
 * `defaults` overridden by the options that are set: an option given as `undefined` (a page
 * passing `{ realtimeUrl: config.realtimeUrl }` with none configured) keeps the default.
 * @template {object} D
 * @template {object} O
 * @param {D} defaults
 * @param {O} options
 * @returns {D & O}
 */
export function withDefaults(defaults, options) {
  const set = Object.entries(options ?? {}).filter(([, value]) => value !== undefined);
  return /** @type {D & O} */ ({ ...defaults, ...Object.fromEntries(set) });
}
