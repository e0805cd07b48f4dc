/**
 * A voice session that keeps itself alive: it gets a key, connects with the OpenAI Agents SDK,
 * and after a drop, a refused call or an expired key it gets a new key and reconnects on a
 * 1 s, 2 s, 4 s schedule before giving up. With `via: 'relay'` it holds no key at all: the SDK
 * posts its WebRTC offer to ekmint's `POST /api/realtime/calls`, which relays it upstream with
 * the server's session, and each (re)connect is one relayed call. Everything reaches the page as DOM events and
 * `EkmintError`s; the page's own session settings, agent and tools go to the SDK as given.
 */
import { EkmintError } from './errors.js';
/** The SDK waits up to 5 s for `session.updated`; ICE can take longer to fail on its own. */
export declare const DEFAULT_CONNECT_TIMEOUT_MS = 15000;
export declare const DEFAULT_AGENT_NAME = "Assistant";
/** A call that stayed up this long was a real one: the reconnect schedule starts over. */
export declare const DEFAULT_STABLE_AFTER_MS = 30000;
/** At most this many new keys for reconnects in any minute, whatever the schedule says. */
export declare const DEFAULT_MAX_RECONNECT_KEYS_PER_MINUTE = 6;
/** A reconnect waits out a 429/503's Retry-After up to this long; beyond it the session ends. */
export declare const DEFAULT_MAX_RATE_LIMIT_WAIT_MS = 60000;
/**
 * The SDK sends `Authorization: Bearer <apiKey>` with the offer and wants some value. Relayed
 * without a sign-in token (AUTH_MODE=none), this stands in; ekmint ignores it.
 */
export declare const RELAY_NO_TOKEN = "none";
export type VoiceState = 'idle' | 'connecting' | 'connected' | 'disconnected' | 'failed';
export type TransportKind = 'webrtc' | 'websocket';
export type ConnectVia = 'mint' | 'relay';
export type RealtimeSession = import('@openai/agents-realtime').RealtimeSession;
export type RealtimeAgent = import('@openai/agents-realtime').RealtimeAgent;
export type RealtimeSessionOptions = import('@openai/agents-realtime').RealtimeSessionOptions;
export type SdkPart = 'RealtimeAgent' | 'RealtimeSession' | 'OpenAIRealtimeWebRTC' | 'OpenAIRealtimeWebSocket';
export type AgentsSdk = Pick<typeof import('@openai/agents-realtime'), SdkPart>;
export type VoiceOptions = {
    /**
     * where keys come from (unused
     * with `via: 'relay'`)
     */
    keySource: import('./client-secret.js').KeySource;
    /**
     * `mint` (default) or `relay`: connect through ekmint's
     * `POST /api/realtime/calls` instead of with a key (WebRTC only)
     */
    via?: ConnectVia;
    /**
     * ekmint's calls route, e.g.
     * 'https://api.example.com/api/realtime/calls'; relative URLs resolve against the page.
     * createEkmintClient derives it from the key service's URL
     */
    relayUrl?: string;
    /**
     * the `model` and `voice` asked
     * of ekmint's policy for a relayed call (its query parameters); createEkmintClient takes them
     * from the key request's session
     */
    relaySession?: {
        model?: string;
        voice?: string;
    };
    /**
     * relayed calls: the
     * sign-in bearer ekmint's authorizer checks (AUTH_MODE=jwt), asked for on every connect
     */
    getAuthToken?: import('./client-secret.js').TokenCallback;
    /**
     * the WebRTC calls endpoint; OpenAI's unless set (the local
     * stack's emulator answers at http://127.0.0.1:<port>/v1/realtime/calls). A `webrtc_url` in
     * the key service's answer takes precedence.
     */
    realtimeUrl?: string;
    /**
     * the WebSocket endpoint, when WebSocket is used
     */
    websocketUrl?: string;
    /**
     * the
     * agent (with its tools and voice) for every session, or a function that makes one per
     * (re)connect; `agentName` and `instructions` are ignored when it is given
     */
    agent?: RealtimeAgent | (() => RealtimeAgent | Promise<RealtimeAgent>);
    agentName?: string;
    /**
     * replace the minted instructions (the service's policy
     * decides what was minted; a page that sends its own overrides that for this session)
     */
    instructions?: string;
    /**
     * passed to the SDK's RealtimeSession; `config` holds the only session settings sent
     */
    sessionOptions?: Partial<Omit<RealtimeSessionOptions, 'transport' | 'model'>>;
    /**
     * where the model's voice plays (WebRTC)
     */
    audioElement?: HTMLAudioElement;
    /**
     * true: WebRTC; false: WebSocket (no microphone: the page sends
     * audio itself); default: WebRTC where the browser has it
     */
    webrtc?: boolean;
    /**
     * where the browser has no WebRTC, use WebSocket
     * instead of failing with `webrtc_unsupported` (default false)
     */
    websocketFallback?: boolean;
    reconnectDelaysMs?: readonly number[];
    /**
     * a call up this long resets the reconnect schedule
     */
    stableAfterMs?: number;
    maxReconnectKeysPerMinute?: number;
    /**
     * the longest Retry-After a reconnect waits out
     */
    maxRateLimitWaitMs?: number;
    connectTimeoutMs?: number;
    loadSdk?: () => Promise<AgentsSdk>;
    getUserMedia?: (constraints: MediaStreamConstraints) => Promise<MediaStream>;
    sleep?: import('./timing.js').Sleep;
    /**
     * milliseconds, like Date.now
     */
    now?: () => number;
};
export type StateChangeDetail = {
    state: VoiceState;
    previous: VoiceState;
    /**
     * the error code of a drop, or 'closed'
     */
    reason?: string;
};
export type SessionStartDetail = {
    /**
     * the SDK's new session: add your listeners here
     */
    session: RealtimeSession;
    /**
     * false for the first session, true for each replacement
     */
    reconnect: boolean;
    /**
     * the replaced session's history (the new
     * session starts a new conversation on the server; it does not carry this over)
     */
    previousHistory: readonly unknown[];
};
export type KeyDetail = {
    /**
     * epoch seconds
     */
    expiresAt: number;
    session: import('./client-secret.js').SessionSummary;
};
export type ServerSessionDetail = {
    type: 'session.created' | 'session.updated';
    /**
     * the session as the server holds it
     */
    session: Record<string, any>;
};
export type RetryDetail = {
    attempt: number;
    delayMs: number;
    /**
     * why, and (for a rate limit) how long the wait is
     */
    error: EkmintError;
};
export type ErrorDetail = {
    error: EkmintError;
};
export type VoiceEventOf<D> = VoiceEvent<D>;
export type VoiceEventMap = {
    statechange: VoiceEventOf<StateChangeDetail>;
    sessionstart: VoiceEventOf<SessionStartDetail>;
    key: VoiceEventOf<KeyDetail>;
    session: VoiceEventOf<ServerSessionDetail>;
    retry: VoiceEventOf<RetryDetail>;
    /**
     * the session gave up (state `failed`)
     */
    error: VoiceEventOf<ErrorDetail>;
    /**
     * the Realtime API or the SDK reported an
     * error (a refused session.update, a limit) and the session goes on
     */
    realtimeerror: VoiceEventOf<ErrorDetail>;
};
export type ConnectTarget = {
    apiKey: string;
    model: string | undefined;
    url: string | undefined;
};
/** @typedef {'idle' | 'connecting' | 'connected' | 'disconnected' | 'failed'} VoiceState */
/** @typedef {'webrtc' | 'websocket'} TransportKind */
/**
 * How a session connects: `mint` gets an `ek_` key from ekmint and posts the offer to the
 * Realtime API with it; `relay` posts the offer to ekmint, which relays it (no key in the page).
 * @typedef {'mint' | 'relay'} ConnectVia
 */
/** @typedef {import('@openai/agents-realtime').RealtimeSession} RealtimeSession */
/** @typedef {import('@openai/agents-realtime').RealtimeAgent} RealtimeAgent */
/** @typedef {import('@openai/agents-realtime').RealtimeSessionOptions} RealtimeSessionOptions */
/** @typedef {'RealtimeAgent' | 'RealtimeSession' | 'OpenAIRealtimeWebRTC' | 'OpenAIRealtimeWebSocket'} SdkPart */
/**
 * The parts of `@openai/agents-realtime` the client uses (what build.sh bundles).
 * @typedef {Pick<typeof import('@openai/agents-realtime'), SdkPart>} AgentsSdk
 */
/**
 * @typedef {object} VoiceOptions
 * @property {import('./client-secret.js').KeySource} keySource where keys come from (unused
 *   with `via: 'relay'`)
 * @property {ConnectVia} [via] `mint` (default) or `relay`: connect through ekmint's
 *   `POST /api/realtime/calls` instead of with a key (WebRTC only)
 * @property {string} [relayUrl] ekmint's calls route, e.g.
 *   'https://api.example.com/api/realtime/calls'; relative URLs resolve against the page.
 *   createEkmintClient derives it from the key service's URL
 * @property {{ model?: string, voice?: string }} [relaySession] the `model` and `voice` asked
 *   of ekmint's policy for a relayed call (its query parameters); createEkmintClient takes them
 *   from the key request's session
 * @property {import('./client-secret.js').TokenCallback} [getAuthToken] relayed calls: the
 *   sign-in bearer ekmint's authorizer checks (AUTH_MODE=jwt), asked for on every connect
 * @property {string} [realtimeUrl] the WebRTC calls endpoint; OpenAI's unless set (the local
 *   stack's emulator answers at http://127.0.0.1:<port>/v1/realtime/calls). A `webrtc_url` in
 *   the key service's answer takes precedence.
 * @property {string} [websocketUrl] the WebSocket endpoint, when WebSocket is used
 * @property {RealtimeAgent | (() => RealtimeAgent | Promise<RealtimeAgent>)} [agent] the
 *   agent (with its tools and voice) for every session, or a function that makes one per
 *   (re)connect; `agentName` and `instructions` are ignored when it is given
 * @property {string} [agentName]
 * @property {string} [instructions] replace the minted instructions (the service's policy
 *   decides what was minted; a page that sends its own overrides that for this session)
 * @property {Partial<Omit<RealtimeSessionOptions, 'transport' | 'model'>>} [sessionOptions]
 *   passed to the SDK's RealtimeSession; `config` holds the only session settings sent
 * @property {HTMLAudioElement} [audioElement] where the model's voice plays (WebRTC)
 * @property {boolean} [webrtc] true: WebRTC; false: WebSocket (no microphone: the page sends
 *   audio itself); default: WebRTC where the browser has it
 * @property {boolean} [websocketFallback] where the browser has no WebRTC, use WebSocket
 *   instead of failing with `webrtc_unsupported` (default false)
 * @property {readonly number[]} [reconnectDelaysMs]
 * @property {number} [stableAfterMs] a call up this long resets the reconnect schedule
 * @property {number} [maxReconnectKeysPerMinute]
 * @property {number} [maxRateLimitWaitMs] the longest Retry-After a reconnect waits out
 * @property {number} [connectTimeoutMs]
 * @property {() => Promise<AgentsSdk>} [loadSdk]
 * @property {(constraints: MediaStreamConstraints) => Promise<MediaStream>} [getUserMedia]
 * @property {import('./timing.js').Sleep} [sleep]
 * @property {() => number} [now] milliseconds, like Date.now
 */
/**
 * @typedef {object} StateChangeDetail
 * @property {VoiceState} state
 * @property {VoiceState} previous
 * @property {string} [reason] the error code of a drop, or 'closed'
 */
/**
 * @typedef {object} SessionStartDetail
 * @property {RealtimeSession} session the SDK's new session: add your listeners here
 * @property {boolean} reconnect false for the first session, true for each replacement
 * @property {readonly unknown[]} previousHistory the replaced session's history (the new
 *   session starts a new conversation on the server; it does not carry this over)
 */
/**
 * @typedef {object} KeyDetail
 * @property {number} expiresAt epoch seconds
 * @property {import('./client-secret.js').SessionSummary} session
 */
/**
 * @typedef {object} ServerSessionDetail
 * @property {'session.created' | 'session.updated'} type
 * @property {Record<string, any>} session the session as the server holds it
 */
/**
 * @typedef {object} RetryDetail
 * @property {number} attempt
 * @property {number} delayMs
 * @property {EkmintError} error why, and (for a rate limit) how long the wait is
 */
/** @typedef {{ error: EkmintError }} ErrorDetail */
/**
 * @template D
 * @typedef {VoiceEvent<D>} VoiceEventOf
 */
/**
 * The events a VoiceConnection dispatches, by type.
 * @typedef {object} VoiceEventMap
 * @property {VoiceEventOf<StateChangeDetail>} statechange
 * @property {VoiceEventOf<SessionStartDetail>} sessionstart
 * @property {VoiceEventOf<KeyDetail>} key
 * @property {VoiceEventOf<ServerSessionDetail>} session
 * @property {VoiceEventOf<RetryDetail>} retry
 * @property {VoiceEventOf<ErrorDetail>} error the session gave up (state `failed`)
 * @property {VoiceEventOf<ErrorDetail>} realtimeerror the Realtime API or the SDK reported an
 *   error (a refused session.update, a limit) and the session goes on
 */
/**
 * Where and how one (re)connect goes: the SDK's apiKey, the minted model, the calls URL.
 * @typedef {{ apiKey: string, model: string | undefined, url: string | undefined }} ConnectTarget
 */
/**
 * Start a voice session now; listen for its events (VoiceEventMap) on the returned object.
 * @param {VoiceOptions} options
 */
export declare function connectVoice(options: VoiceOptions): VoiceConnection;
export declare class VoiceConnection extends EventTarget {
    #private;
    /** How this session connects. @type {ConnectVia} */
    via: ConnectVia;
    /** Which SDK transport carries the session. @type {TransportKind} */
    transport: TransportKind;
    /**
     * Resolves on the first `connected`; rejects with the final `EkmintError` (`voice_closed`
     * after close()).
     * @type {Promise<void>}
     */
    ready: Promise<void>;
    /** @param {VoiceOptions} options */
    constructor(options: VoiceOptions);
    /** @returns {VoiceState} */
    get state(): VoiceState;
    /**
     * The SDK's RealtimeSession of the current connection (to send messages, listen for
     * transcripts and tool calls). A reconnect replaces it: use the `sessionstart` event.
     * @returns {RealtimeSession | null}
     */
    get session(): RealtimeSession | null;
    /** Whether the microphone is muted; it stays so across reconnects. */
    get muted(): boolean;
    /**
     * Mute or unmute the microphone for this connection, including the sessions that replace
     * the current one after a reconnect.
     * @param {boolean} muted
     */
    mute(muted: boolean): void;
    /**
     * A listener for one of VoiceEventMap's events, typed by it.
     * @template {keyof VoiceEventMap} K
     * @overload
     * @param {K} type
     * @param {(this: VoiceConnection, event: VoiceEventMap[K]) => void} listener
     * @param {boolean | AddEventListenerOptions} [options]
     * @returns {void}
     */
    /**
     * @overload
     * @param {string} type
     * @param {EventListenerOrEventListenerObject | null} listener
     * @param {boolean | AddEventListenerOptions} [options]
     * @returns {void}
     */
    /**
     * @param {string} type
     * @param {any} listener
     * @param {boolean | AddEventListenerOptions} [options]
     */
    addEventListener<K extends keyof VoiceEventMap>(type: K, listener: (this: VoiceConnection, event: VoiceEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
    /**
     * A listener for one of VoiceEventMap's events, typed by it.
     * @template {keyof VoiceEventMap} K
     * @overload
     * @param {K} type
     * @param {(this: VoiceConnection, event: VoiceEventMap[K]) => void} listener
     * @param {boolean | AddEventListenerOptions} [options]
     * @returns {void}
     */
    /**
     * @overload
     * @param {string} type
     * @param {EventListenerOrEventListenerObject | null} listener
     * @param {boolean | AddEventListenerOptions} [options]
     * @returns {void}
     */
    /**
     * @param {string} type
     * @param {any} listener
     * @param {boolean | AddEventListenerOptions} [options]
     */
    addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
    /**
     * @template {keyof VoiceEventMap} K
     * @overload
     * @param {K} type
     * @param {(this: VoiceConnection, event: VoiceEventMap[K]) => void} listener
     * @param {boolean | EventListenerOptions} [options]
     * @returns {void}
     */
    /**
     * @overload
     * @param {string} type
     * @param {EventListenerOrEventListenerObject | null} listener
     * @param {boolean | EventListenerOptions} [options]
     * @returns {void}
     */
    /**
     * @param {string} type
     * @param {any} listener
     * @param {boolean | EventListenerOptions} [options]
     */
    removeEventListener<K extends keyof VoiceEventMap>(type: K, listener: (this: VoiceConnection, event: VoiceEventMap[K]) => void, options?: boolean | EventListenerOptions): void;
    /**
     * @template {keyof VoiceEventMap} K
     * @overload
     * @param {K} type
     * @param {(this: VoiceConnection, event: VoiceEventMap[K]) => void} listener
     * @param {boolean | EventListenerOptions} [options]
     * @returns {void}
     */
    /**
     * @overload
     * @param {string} type
     * @param {EventListenerOrEventListenerObject | null} listener
     * @param {boolean | EventListenerOptions} [options]
     * @returns {void}
     */
    /**
     * @param {string} type
     * @param {any} listener
     * @param {boolean | EventListenerOptions} [options]
     */
    removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
    /**
     * Hang up for good: no reconnect, microphone released (also one granted after this call),
     * state `disconnected`, and nothing changes after it. `ready`, if still pending, rejects
     * with `voice_closed`.
     */
    close(): void;
}
/**
 * An Event with a `detail`, like CustomEvent (which Node 18 lacks without a flag).
 * @template [D=unknown]
 */
export declare class VoiceEvent<D = unknown> extends Event {
    /** @type {D} */
    detail: D;
    /**
     * @param {string} type
     * @param {D} detail
     */
    constructor(type: string, detail: D);
}
/**
 * getUserMedia's DOMException names -> what a person can do about them.
 * @param {unknown} error
 */
export declare function microphoneError(error: unknown): EkmintError;
/**
 * A failed connect() -> the browser-side code. The SDK reports a refused call as
 * "Realtime call request failed with status <n>: <message>"; 401 there means the key is no
 * longer accepted (expired, or already used up).
 * @param {unknown} error
 * @param {'webrtc_connection_failed' | 'websocket_connection_failed'} [code]
 */
export declare function connectError(error: unknown, code?: 'webrtc_connection_failed' | 'websocket_connection_failed'): EkmintError;
/**
 * A refused relayed call -> the service's code. The SDK reports it as "Realtime call request
 * failed with status <n>: <the envelope's message>", without the answer's headers, so the
 * code comes from the status (and the message, where one status has two codes).
 * @param {unknown} error
 */
export declare function relayError(error: unknown): EkmintError;
