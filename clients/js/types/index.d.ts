export type EkmintClientOptions = import('./client-secret.js').KeySourceOptions & {
    voice?: Omit<import('./voice.js').VoiceOptions, 'keySource'>;
};
/**
 * @typedef {import('./client-secret.js').KeySourceOptions & {
 *   voice?: Omit<import('./voice.js').VoiceOptions, 'keySource'>
 * }} EkmintClientOptions
 */
/**
 * @param {EkmintClientOptions} options the key service (`url`, `getAuthToken`, `request`, …)
 *   and defaults for every voice session (`voice: { realtimeUrl, instructions, … }`)
 */
export declare function createEkmintClient(options: EkmintClientOptions): {
    /** A key that is still good, from the cache or a new request (retried on 429/503). */
    getClientSecret: (options?: {
        forceRefresh?: boolean;
        signal?: AbortSignal;
    }) => Promise<import("./client-secret.js").ClientSecret>;
    /** The cached key without a request, or null. */
    peekClientSecret: () => import("./client-secret.js").ClientSecret | null;
    /** Milliseconds until a key expires, by this device's clock corrected for the server's. */
    expiresInMs: (secret: import("./client-secret.js").ClientSecret) => number;
    /**
     * Start a voice session (see `connectVoice` in voice.js for its events).
     * @param {Omit<import('./voice.js').VoiceOptions, 'keySource'>} [voiceOptions]
     */
    connectVoice: (voiceOptions?: Omit<import('./voice.js').VoiceOptions, 'keySource'>) => import("./voice.js").VoiceConnection;
};
export type ClientSecret = import('./client-secret.js').ClientSecret;
export type KeySource = import('./client-secret.js').KeySource;
export type KeySourceOptions = import('./client-secret.js').KeySourceOptions;
export type VoiceOptions = import('./voice.js').VoiceOptions;
export type VoiceEventMap = import('./voice.js').VoiceEventMap;
export type VoiceState = import('./voice.js').VoiceState;
export type ErrorCode = import('./errors.js').ErrorCode;
/** @typedef {import('./client-secret.js').ClientSecret} ClientSecret */
/** @typedef {import('./client-secret.js').KeySource} KeySource */
/** @typedef {import('./client-secret.js').KeySourceOptions} KeySourceOptions */
/** @typedef {import('./voice.js').VoiceOptions} VoiceOptions */
/** @typedef {import('./voice.js').VoiceEventMap} VoiceEventMap */
/** @typedef {import('./voice.js').VoiceState} VoiceState */
/** @typedef {import('./errors.js').ErrorCode} ErrorCode */
export { createKeySource, clockSkewMs } from './client-secret.js';
export { connectVoice, VoiceConnection, VoiceEvent, RELAY_NO_TOKEN } from './voice.js';
export { EkmintError, ERROR_TEXT } from './errors.js';
export { RECONNECT_DELAYS_MS } from './timing.js';
