/**
 * Getting an `ek_` client secret from ekmint: one request at a time, cached until shortly
 * before it expires, retried on 429/503 within a bounded time.
 */
import { EkmintError } from './errors.js';
/** Give up retrying 429/503 once this much time has passed since the first attempt. */
export declare const DEFAULT_RETRY_BUDGET_MS = 20000;
/** Refresh this long before `expires_at` (capped at a fifth of the key's life, for short TTLs). */
export declare const DEFAULT_REFRESH_MARGIN_MS = 30000;
export type SessionSummary = {
    type: string;
    model: string;
    voice: string;
};
export type ClientSecret = {
    /**
     * the `ek_` key; give it to the SDK, never show or log it
     */
    value: string;
    /**
     * epoch seconds, as the service sent it
     */
    expiresAt: number;
    session: SessionSummary;
    /**
     * local clock, when the answer arrived
     */
    receivedAtMs: number;
    /**
     * server clock minus local clock (0 when unknown)
     */
    skewMs: number;
    /**
     * where to POST the SDP offer, when the service names one
     * (`webrtc_url` in its answer); the voice session then uses it instead of `realtimeUrl`
     */
    webrtcUrl?: string;
};
export type RetryInfo = {
    /**
     * the attempt that failed (1 for the first)
     */
    attempt: number;
    /**
     * the pause before the next one
     */
    delayMs: number;
    /**
     * why it failed
     */
    error: EkmintError;
};
export type TokenCallback = () => (string | null | undefined | Promise<string | null | undefined>);
export type KeySourceOptions = {
    /**
     * the ekmint endpoint, e.g. 'https://api.example.com/api/client-secret'
     */
    url: string;
    /**
     * for AUTH_MODE=jwt: the bearer to forward, asked
     * for on every request so a refreshed sign-in token is used
     */
    getAuthToken?: TokenCallback;
    /**
     * the body: session settings, in OpenAI's shape
     */
    request?: Record<string, unknown>;
    retryBudgetMs?: number;
    refreshMarginMs?: number;
    /**
     * told before each pause, for a status line
     */
    onRetry?: (info: RetryInfo) => void;
    fetch?: typeof fetch;
    /**
     * milliseconds, like Date.now
     */
    now?: () => number;
    sleep?: import('./timing.js').Sleep;
    random?: () => number;
};
export type KeySource = {
    getClientSecret: (options?: {
        forceRefresh?: boolean;
        signal?: AbortSignal;
    }) => Promise<ClientSecret>;
    /**
     * the cached key, fresh or not, without a request
     */
    peek: () => ClientSecret | null;
    /**
     * forget the cached key (the next call fetches a new one)
     */
    invalidate: () => void;
    /**
     * time left, in this device's clock
     */
    expiresInMs: (secret: ClientSecret) => number;
};
/**
 * @typedef {object} SessionSummary
 * @property {string} type
 * @property {string} model
 * @property {string} voice
 */
/**
 * @typedef {object} ClientSecret
 * @property {string} value the `ek_` key; give it to the SDK, never show or log it
 * @property {number} expiresAt epoch seconds, as the service sent it
 * @property {SessionSummary} session
 * @property {number} receivedAtMs local clock, when the answer arrived
 * @property {number} skewMs server clock minus local clock (0 when unknown)
 * @property {string} [webrtcUrl] where to POST the SDP offer, when the service names one
 *   (`webrtc_url` in its answer); the voice session then uses it instead of `realtimeUrl`
 */
/**
 * @typedef {object} RetryInfo
 * @property {number} attempt the attempt that failed (1 for the first)
 * @property {number} delayMs the pause before the next one
 * @property {EkmintError} error why it failed
 */
/**
 * @typedef {() => (string | null | undefined | Promise<string | null | undefined>)} TokenCallback
 */
/**
 * @typedef {object} KeySourceOptions
 * @property {string} url the ekmint endpoint, e.g. 'https://api.example.com/api/client-secret'
 * @property {TokenCallback} [getAuthToken] for AUTH_MODE=jwt: the bearer to forward, asked
 *   for on every request so a refreshed sign-in token is used
 * @property {Record<string, unknown>} [request] the body: session settings, in OpenAI's shape
 * @property {number} [retryBudgetMs]
 * @property {number} [refreshMarginMs]
 * @property {(info: RetryInfo) => void} [onRetry] told before each pause, for a status line
 * @property {typeof fetch} [fetch]
 * @property {() => number} [now] milliseconds, like Date.now
 * @property {import('./timing.js').Sleep} [sleep]
 * @property {() => number} [random]
 */
/**
 * @typedef {object} KeySource
 * @property {(options?: { forceRefresh?: boolean, signal?: AbortSignal }) => Promise<ClientSecret>} getClientSecret
 * @property {() => ClientSecret | null} peek the cached key, fresh or not, without a request
 * @property {() => void} invalidate forget the cached key (the next call fetches a new one)
 * @property {(secret: ClientSecret) => number} expiresInMs time left, in this device's clock
 */
/**
 * @param {KeySourceOptions} options
 * @returns {KeySource}
 */
export declare function createKeySource(options: KeySourceOptions): KeySource;
/**
 * Server minus local clock, from the Date header (readable same-origin, and cross-origin
 * because the service lists it in Access-Control-Expose-Headers; where a proxy hides it we
 * assume the clocks agree). Under 2 s is noise: Date has 1 s steps.
 * @param {string | null} dateHeader
 * @param {number} nowMs
 */
export declare function clockSkewMs(dateHeader: string | null, nowMs: number): number;
