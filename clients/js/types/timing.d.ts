/** Delays and waits: the two backoff schedules, and a sleep that an AbortSignal cuts short. */
/** Reconnect schedule after a dropped or failed voice connection (issue 8: 1 s, 2 s, 4 s). */
export declare const RECONNECT_DELAYS_MS: readonly number[];
/** First pause before asking the key service again after a 429/503. */
export declare const MINT_BACKOFF_BASE_MS = 500;
/** Longest pause we choose ourselves; a longer Retry-After is still honoured (or we give up). */
export declare const MINT_BACKOFF_MAX_MS = 8000;
/**
 * How long to wait before mint attempt `attempt + 1`: exponential (0.5, 1, 2, 4, 8 s), with
 * jitter, and never less than the service's Retry-After.
 * @param {number} attempt attempts made so far (1 after the first failure)
 * @param {number | null} retryAfterS
 * @param {() => number} [random]
 */
export declare function mintRetryDelayMs(attempt: number, retryAfterS: number | null, random?: () => number): number;
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;
/**
 * `promise`, or a rejection with `onTimeout()` after `ms`.
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @param {() => Error} onTimeout
 * @returns {Promise<T>}
 */
export declare function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T>;
/**
 * `defaults` overridden by the options that are set: an option given as `undefined` (a page
 * passing `{ realtimeUrl: config.realtimeUrl }` with none configured) keeps the default.
 * @template {object} D
 * @template {object} O
 * @param {D} defaults
 * @param {O} options
 * @returns {D & O}
 */
export declare function withDefaults<D extends object, O extends object>(defaults: D, options: O): D & O;
