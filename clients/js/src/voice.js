// @ts-check
/**
 * A voice session that keeps itself alive: it gets a key, connects with the OpenAI Agents SDK,
 * and after a drop, a refused call or an expired key it gets a new key and reconnects on a
 * 1 s, 2 s, 4 s schedule before giving up. With `via: 'relay'` it holds no key at all: the SDK
 * posts its WebRTC offer to ekmint's `POST /api/realtime/calls`, which relays it upstream with
 * the server's session, and each (re)connect is one relayed call. Everything reaches the page as DOM events and
 * `EkmintError`s; the page's own session settings, agent and tools go to the SDK as given.
 */
import { CODE_BY_STATUS, EkmintError, browserError } from './errors.js';
import { sendOnlyExplicitSettings } from './session-settings.js';
import { RECONNECT_DELAYS_MS, sleep as realSleep, withDefaults, withTimeout } from './timing.js';

/** The SDK waits up to 5 s for `session.updated`; ICE can take longer to fail on its own. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
export const DEFAULT_AGENT_NAME = 'Assistant';
/** A call that stayed up this long was a real one: the reconnect schedule starts over. */
export const DEFAULT_STABLE_AFTER_MS = 30_000;
/** At most this many new keys for reconnects in any minute, whatever the schedule says. */
export const DEFAULT_MAX_RECONNECT_KEYS_PER_MINUTE = 6;
/** A reconnect waits out a 429/503's Retry-After up to this long; beyond it the session ends. */
export const DEFAULT_MAX_RATE_LIMIT_WAIT_MS = 60_000;
const MINUTE_MS = 60_000;
/**
 * The SDK sends `Authorization: Bearer <apiKey>` with the offer and wants some value. Relayed
 * without a sign-in token (AUTH_MODE=none), this stands in; ekmint ignores it.
 */
export const RELAY_NO_TOKEN = 'none';

/** Failures that a new key and another try can fix; anything else ends the session. */
const RECOVERABLE = new Set(['ephemeral_key_expired', 'webrtc_connection_failed', 'websocket_connection_failed']);
/** The key service's "not now": worth waiting for during a reconnect, if it says how long. */
const BUSY = new Set(['rate_limited', 'openai_api_unavailable']);

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
export function connectVoice(options) {
  return new VoiceConnection(options);
}

export class VoiceConnection extends EventTarget {
  /** @type {Required<Omit<VoiceOptions, 'realtimeUrl' | 'websocketUrl' | 'instructions' | 'audioElement' | 'agent' | 'webrtc' | 'relayUrl' | 'relaySession' | 'getAuthToken'>> & VoiceOptions} */
  #options;
  /** @type {VoiceState} */
  #state = 'idle';
  #closed = false;
  #muted = false;
  #abort = new AbortController();
  /** @type {RealtimeSession | null} */
  #session = null;
  /** @type {readonly unknown[]} */
  #lastHistory = [];
  #sessionsStarted = 0;
  /** When the current call connected (options.now). */
  #connectedAt = 0;
  /** @type {MediaStream | null} */
  #microphone = null;
  /** @type {(error: EkmintError) => void} */
  #reportDrop = () => {};
  /** @type {(value: void) => void} */
  #resolveReady = () => {};
  /** @type {(reason: unknown) => void} */
  #rejectReady = () => {};

  /** @param {VoiceOptions} options */
  constructor(options) {
    super();
    if (!options?.keySource) throw new TypeError('connectVoice: `keySource` is required');
    this.#options = withDefaults(
      {
        agentName: DEFAULT_AGENT_NAME,
        sessionOptions: {},
        websocketFallback: false,
        reconnectDelaysMs: RECONNECT_DELAYS_MS,
        stableAfterMs: DEFAULT_STABLE_AFTER_MS,
        maxReconnectKeysPerMinute: DEFAULT_MAX_RECONNECT_KEYS_PER_MINUTE,
        maxRateLimitWaitMs: DEFAULT_MAX_RATE_LIMIT_WAIT_MS,
        connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
        via: 'mint',
        // A runtime import: pages that only need keys never load the SDK (about 1.4 MB).
        loadSdk: () => import('@openai/agents-realtime'),
        getUserMedia: defaultGetUserMedia,
        sleep: realSleep,
        now: Date.now,
      },
      options,
    );
    /** How this session connects. @type {ConnectVia} */
    this.via = this.#options.via === 'relay' ? 'relay' : 'mint';
    if (this.via === 'relay') {
      if (!this.#options.relayUrl) throw new TypeError("connectVoice: `relayUrl` is required with via: 'relay'");
      // The relayed route takes an SDP offer: WebRTC or nothing.
      if (this.#options.webrtc === false) throw new TypeError("connectVoice: via: 'relay' needs WebRTC");
    }
    const hasWebRtc = typeof globalThis.RTCPeerConnection === 'function';
    const webrtc =
      this.via === 'relay' || (this.#options.webrtc ?? (hasWebRtc || !this.#options.websocketFallback));
    /** Which SDK transport carries the session. @type {TransportKind} */
    this.transport = webrtc ? 'webrtc' : 'websocket';
    this.#unsupported = webrtc && this.#options.webrtc === undefined && !hasWebRtc;
    /**
     * Resolves on the first `connected`; rejects with the final `EkmintError` (`voice_closed`
     * after close()).
     * @type {Promise<void>}
     */
    this.ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.ready.catch(() => {}); // pages that only listen for events need not await it
    // Next microtask: listeners added right after connectVoice() returns see every event.
    queueMicrotask(() => void this.#run());
  }

  /** No WebRTC here and no WebSocket fallback asked for. */
  #unsupported = false;

  /** @returns {VoiceState} */
  get state() {
    return this.#state;
  }

  /**
   * The SDK's RealtimeSession of the current connection (to send messages, listen for
   * transcripts and tool calls). A reconnect replaces it: use the `sessionstart` event.
   * @returns {RealtimeSession | null}
   */
  get session() {
    return this.#session;
  }

  /** Whether the microphone is muted; it stays so across reconnects. */
  get muted() {
    return this.#muted;
  }

  /**
   * Mute or unmute the microphone for this connection, including the sessions that replace
   * the current one after a reconnect.
   * @param {boolean} muted
   */
  mute(muted) {
    this.#muted = muted;
    if (this.transport === 'webrtc') this.#session?.mute(muted);
  }

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
  addEventListener(type, listener, options) {
    super.addEventListener(type, listener, options);
  }

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
  removeEventListener(type, listener, options) {
    super.removeEventListener(type, listener, options);
  }

  /**
   * Hang up for good: no reconnect, microphone released (also one granted after this call),
   * state `disconnected`, and nothing changes after it. `ready`, if still pending, rejects
   * with `voice_closed`.
   */
  close() {
    if (this.#closed) return;
    const closed = new EkmintError({ code: 'voice_closed' });
    this.#setState('disconnected', { reason: 'closed' });
    this.#closed = true;
    this.#abort.abort(closed);
    this.#endSession();
    this.#releaseMicrophone();
    this.#rejectReady(closed);
  }

  async #run() {
    try {
      if (this.#unsupported) throw browserError('webrtc_unsupported');
      const sdk = await this.#loadSdk();
      if (this.#closed) return;
      // Ask for the microphone before spending a key on a call that could not hear anyone.
      if (this.transport === 'webrtc') await this.#ensureMicrophone();
      if (this.#closed) return;
      await this.#connectWithRetries(sdk);
    } catch (error) {
      if (!this.#closed) this.#fail(asEkmintError(error));
    }
  }

  /** @param {AgentsSdk} sdk */
  async #connectWithRetries(sdk) {
    const { reconnectDelaysMs: delays, now } = this.#options;
    let retries = 0;
    let connectedOnce = false;
    /** @type {number[]} when each reconnect's key was asked for */
    const reconnectKeys = [];
    for (;;) {
      /** @type {EkmintError} */
      let problem;
      // Armed before connecting: a drop right after `connected` must not go unheard.
      /** @type {Promise<EkmintError>} */
      const dropped = new Promise((resolve) => {
        this.#reportDrop = resolve;
      });
      try {
        if (retries > 0) reconnectKeys.push(now());
        // Every retry gets a new key: the old one may be the reason it failed.
        await this.#connectOnce(sdk, retries > 0);
        if (this.#closed) return;
        connectedOnce = true;
        this.#resolveReady();
        problem = await dropped;
        // Only a call that stayed up starts the schedule over: an upstream that accepts and
        // drops at once would otherwise cost a key a second, forever.
        if (now() - this.#connectedAt >= this.#options.stableAfterMs) retries = 0;
      } catch (error) {
        problem = asEkmintError(error);
        if (this.#closed) return;
        if (!this.#recoverable(problem, connectedOnce)) throw problem;
      }
      this.#endSession();
      if (this.#closed) return;
      if (retries >= delays.length) throw problem;
      const recent = reconnectKeys.filter((at) => now() - at < MINUTE_MS).length;
      if (recent >= this.#options.maxReconnectKeysPerMinute) {
        throw problem.with({ message: `${problem.message} (${recent} reconnects within a minute; giving up.)` });
      }
      this.#setState('disconnected', { reason: problem.code });
      let delayMs = delays[retries];
      if (BUSY.has(problem.code) && problem.retryAfterS != null) {
        delayMs = Math.max(delayMs, Math.ceil(problem.retryAfterS) * 1000);
        problem = problem.with({ message: `${withoutGaveUp(problem.message)} Reconnecting in ${delayMs / 1000} s.` });
      }
      retries += 1;
      this.#emit('retry', { attempt: retries, delayMs, error: problem });
      await this.#options.sleep(delayMs, this.#abort.signal);
      if (this.transport === 'webrtc') await this.#ensureMicrophone();
      if (this.#closed) return;
    }
  }

  /**
   * @param {EkmintError} problem
   * @param {boolean} connectedOnce
   */
  #recoverable(problem, connectedOnce) {
    if (RECOVERABLE.has(problem.code)) return true;
    // A busy key service during a reconnect: wait as long as it asks, within a bound.
    if (!connectedOnce || !BUSY.has(problem.code)) return false;
    // A relayed call's refusal reaches us through the SDK, without its Retry-After: the
    // reconnect schedule paces it instead.
    if (problem.retryAfterS == null) return this.via === 'relay';
    return problem.retryAfterS * 1000 <= this.#options.maxRateLimitWaitMs;
  }

  /**
   * @param {AgentsSdk} sdk
   * @param {boolean} newKey
   */
  async #connectOnce(sdk, newKey) {
    this.#setState('connecting');
    const target = this.via === 'relay' ? await this.#relayTarget() : await this.#mintedTarget(newKey);
    if (this.#closed) return;
    const session = await this.#createSession(sdk, target.model);
    if (this.#closed) return;
    this.#session = session;
    session.on('transport_event', (/** @type {any} */ event) => this.#onServerEvent(event));
    session.on('error', (/** @type {any} */ event) => {
      if (this.#session === session && !this.#closed) this.#emit('realtimeerror', { error: realtimeError(event) });
    });
    this.#sessionsStarted += 1;
    this.#emit('sessionstart', {
      session,
      reconnect: this.#sessionsStarted > 1,
      previousHistory: this.#lastHistory,
    });
    try {
      const { apiKey, url } = target;
      await withTimeout(
        session.connect({ apiKey, ...(url ? { url } : {}) }),
        this.#options.connectTimeoutMs,
        () => browserError(this.#connectionCode(), undefined, 'The voice connection timed out.'),
      );
    } catch (error) {
      throw this.via === 'relay' ? relayError(error) : connectError(error, this.#connectionCode());
    }
    if (this.#closed || this.#session !== session) return;
    // The microphone outlives sessions; its mute must match what the new session believes.
    if (this.transport === 'webrtc') session.mute(this.#muted);
    this.#watchForDrop(session);
    this.#connectedAt = this.#options.now();
    this.#setState('connected');
  }

  /**
   * A key from the key service (a new one for every retry: the old one may be why it failed).
   * @param {boolean} newKey
   * @returns {Promise<ConnectTarget>}
   */
  async #mintedTarget(newKey) {
    const key = await this.#options.keySource.getClientSecret({
      forceRefresh: newKey,
      signal: this.#abort.signal,
    });
    if (!this.#closed) this.#emit('key', { expiresAt: key.expiresAt, session: key.session });
    const url = this.transport === 'webrtc' ? key.webrtcUrl ?? this.#options.realtimeUrl : this.#options.websocketUrl;
    return { apiKey: key.value, model: key.session.model, url };
  }

  /**
   * ekmint's calls route, with the page's sign-in token (if any) as the bearer the SDK sends.
   * @returns {Promise<ConnectTarget>}
   */
  async #relayTarget() {
    const { relayUrl = '', relaySession = {}, getAuthToken } = this.#options;
    let token;
    try {
      token = getAuthToken ? await getAuthToken() : null;
    } catch (error) {
      throw new EkmintError({ code: 'unauthorized', message: 'Could not get your sign-in token for the voice service.', cause: error });
    }
    // The SDK needs an absolute URL; a page may name the route relative to itself.
    const url = new URL(relayUrl, globalThis.location?.href);
    for (const name of /** @type {const} */ (['model', 'voice'])) {
      const value = relaySession[name];
      if (value) url.searchParams.set(name, value);
    }
    return { apiKey: token || RELAY_NO_TOKEN, model: relaySession.model, url: url.href };
  }

  #connectionCode() {
    return this.transport === 'webrtc' ? 'webrtc_connection_failed' : 'websocket_connection_failed';
  }

  /**
   * @param {AgentsSdk} sdk
   * @param {string | undefined} model the minted model: a session cannot change it later
   * @returns {Promise<RealtimeSession>}
   */
  async #createSession(sdk, model) {
    const { audioElement, realtimeUrl, websocketUrl, sessionOptions } = this.#options;
    const transport =
      this.transport === 'webrtc'
        ? new sdk.OpenAIRealtimeWebRTC({
            // Ours, so the SDK leaves it running between reconnects (no new permission prompt).
            ...(this.#microphone ? { mediaStream: this.#microphone } : {}),
            ...(audioElement ? { audioElement } : {}),
            ...(realtimeUrl ? { baseUrl: realtimeUrl } : {}),
            // Relayed, the SDK's "API key" is the page's own sign-in token for ekmint (or
            // RELAY_NO_TOKEN), never an OpenAI key; the SDK refuses non-ek_ values in a
            // browser unless told this.
            ...(this.via === 'relay' ? { useInsecureApiKey: true } : {}),
          })
        : new sdk.OpenAIRealtimeWebSocket(websocketUrl ? { url: websocketUrl } : {});
    sendOnlyExplicitSettings(transport, sessionOptions.config, { fixedModel: this.via === 'relay' });
    const agent = await this.#agent(sdk);
    return new sdk.RealtimeSession(agent, {
      ...sessionOptions,
      transport,
      ...(model ? { model } : {}),
    });
  }

  /**
   * @param {AgentsSdk} sdk
   * @returns {Promise<RealtimeAgent>}
   */
  async #agent(sdk) {
    const { agent, agentName, instructions } = this.#options;
    if (typeof agent === 'function') return agent();
    if (agent) return agent;
    return new sdk.RealtimeAgent({ name: agentName, ...(instructions ? { instructions } : {}) });
  }

  /** @param {RealtimeSession} session */
  #watchForDrop(session) {
    const dropped = () => {
      if (this.#session !== session || this.#closed) return;
      this.#reportDrop(browserError(this.#connectionCode(), undefined, 'The voice connection was lost.'));
    };
    session.transport.on('connection_change', (/** @type {string} */ status) => {
      if (status === 'disconnected') dropped();
    });
    // After connect() the SDK watches the peer connection only, which can take seconds to
    // notice that the server hung up; the events channel closing says so at once.
    const state = /** @type {{ connectionState?: { dataChannel?: EventTarget } }} */ (session.transport).connectionState;
    state?.dataChannel?.addEventListener('close', dropped);
  }

  /** @param {any} event */
  #onServerEvent(event) {
    if (this.#closed) return; // a hung-up session's last events are no news to the page
    if (event?.type === 'session.created' || event?.type === 'session.updated') {
      this.#emit('session', { type: event.type, session: event.session });
    }
  }

  async #loadSdk() {
    try {
      return await this.#options.loadSdk();
    } catch (error) {
      throw new EkmintError({
        code: 'internal_error',
        message: 'The voice library (@openai/agents-realtime) could not be loaded.',
        action:
          "Reload the page; if it keeps failing, tell the site operator (the page's import map " +
          'must point @openai/agents-realtime at the bundled SDK).',
        cause: error,
      });
    }
  }

  /** Open the microphone, or open it again if its device went away (an ended track). */
  async #ensureMicrophone() {
    const tracks = this.#microphone?.getTracks() ?? [];
    if (tracks.length && tracks.every((track) => track.readyState !== 'ended')) return;
    this.#releaseMicrophone();
    let stream;
    try {
      stream = await this.#options.getUserMedia({ audio: true });
    } catch (error) {
      throw microphoneError(error);
    }
    // Granted after close(): the page hung up during the prompt; the recording light goes off.
    if (this.#closed) {
      stopTracks(stream);
      return;
    }
    this.#microphone = stream;
  }

  #endSession() {
    const session = this.#session;
    this.#session = null;
    if (!session) return;
    // A mute set on the SDK session directly still holds for the next one.
    if (this.transport === 'webrtc' && typeof session.muted === 'boolean') this.#muted = session.muted;
    this.#lastHistory = [...(session.history ?? [])];
    try {
      session.close();
    } catch {
      // Already closed by the SDK; nothing left to release.
    }
  }

  #releaseMicrophone() {
    if (this.#microphone) stopTracks(this.#microphone);
    this.#microphone = null;
  }

  /** @param {EkmintError} error */
  #fail(error) {
    this.#endSession();
    this.#releaseMicrophone();
    this.#setState('failed', { reason: error.code });
    this.#closed = true;
    this.#emit('error', { error });
    this.#rejectReady(error);
  }

  /**
   * @param {VoiceState} state
   * @param {{ reason?: string }} [extra]
   */
  #setState(state, extra = {}) {
    const previous = this.#state;
    if (previous === state || this.#closed) return;
    this.#state = state;
    this.#emit('statechange', { state, previous, ...extra });
  }

  /**
   * @param {string} type
   * @param {object} detail
   */
  #emit(type, detail) {
    this.dispatchEvent(new VoiceEvent(type, detail));
  }
}

/**
 * An Event with a `detail`, like CustomEvent (which Node 18 lacks without a flag).
 * @template [D=unknown]
 */
export class VoiceEvent extends Event {
  /**
   * @param {string} type
   * @param {D} detail
   */
  constructor(type, detail) {
    super(type);
    /** @type {D} */
    this.detail = detail;
  }
}

/** @param {MediaStream} stream */
function stopTracks(stream) {
  for (const track of stream.getTracks()) track.stop();
}

/** The key source's "(Tried …; giving up.)": the reconnect does not give up. @param {string} message */
function withoutGaveUp(message) {
  return message.replace(/\s*\(Tried [^)]*; giving up\.\)$/, '');
}

/**
 * An SDK `error` event -> an EkmintError. The SDK wraps the server's `error` event (or a
 * transport exception) as `{ type: 'error', error }`.
 * @param {any} event
 */
function realtimeError(event) {
  const inner = event?.error;
  const server = inner?.error ?? inner;
  const text = typeof server?.message === 'string' ? server.message : inner instanceof Error ? inner.message : '';
  return new EkmintError({
    code: 'realtime_error',
    message: text ? `The voice service reported an error: ${text}` : undefined,
    cause: inner,
  });
}

/** @param {MediaStreamConstraints} constraints */
function defaultGetUserMedia(constraints) {
  const media = globalThis.navigator?.mediaDevices;
  if (!media?.getUserMedia) {
    // Browsers offer no microphone API outside secure contexts (https:// or localhost).
    return Promise.reject(
      browserError(
        'microphone_access_denied',
        undefined,
        'This browser offers no microphone here (the page must be served over HTTPS).',
      ),
    );
  }
  return media.getUserMedia(constraints);
}

/**
 * getUserMedia's DOMException names -> what a person can do about them.
 * @param {unknown} error
 */
export function microphoneError(error) {
  if (error instanceof EkmintError) return error;
  const name = /** @type {{ name?: string }} */ (error)?.name;
  if (name === 'NotFoundError' || name === 'OverconstrainedError') {
    return new EkmintError({
      code: 'microphone_access_denied',
      message: 'No microphone was found.',
      action: 'Connect a microphone, then try again.',
      cause: error,
    });
  }
  if (name === 'NotReadableError' || name === 'AbortError') {
    return new EkmintError({
      code: 'microphone_access_denied',
      message: 'The microphone could not be started; another app may be using it.',
      action: 'Close other apps that use the microphone, then try again.',
      cause: error,
    });
  }
  return browserError('microphone_access_denied', error);
}

/**
 * A failed connect() -> the browser-side code. The SDK reports a refused call as
 * "Realtime call request failed with status <n>: <message>"; 401 there means the key is no
 * longer accepted (expired, or already used up).
 * @param {unknown} error
 * @param {'webrtc_connection_failed' | 'websocket_connection_failed'} [code]
 */
export function connectError(error, code = 'webrtc_connection_failed') {
  if (error instanceof EkmintError) return error;
  const text = error instanceof Error ? error.message : String(error);
  if (/\bstatus 401\b/.test(text)) return browserError('ephemeral_key_expired', error);
  return browserError(code, error);
}

/**
 * A refused relayed call -> the service's code. The SDK reports it as "Realtime call request
 * failed with status <n>: <the envelope's message>", without the answer's headers, so the
 * code comes from the status (and the message, where one status has two codes).
 * @param {unknown} error
 */
export function relayError(error) {
  if (error instanceof EkmintError) return error;
  const text = error instanceof Error ? error.message : String(error);
  const match = /Realtime call request failed with status (\d{3})(?::\s*([\s\S]*))?$/.exec(text);
  if (!match) return browserError('webrtc_connection_failed', error);
  const status = Number(match[1]);
  const message = match[2]?.trim() || undefined;
  /** @type {import('./errors.js').ErrorCode} */
  let code = CODE_BY_STATUS[status] ?? (status === 502 ? 'token_generation_failed' : 'internal_error');
  if (status === 400 && /SDP offer/i.test(message ?? '')) code = 'invalid_offer';
  if (status === 503 && /could not be recorded/i.test(message ?? '')) code = 'audit_unavailable';
  return new EkmintError({ code, message, status, cause: error });
}

/** @param {unknown} error */
function asEkmintError(error) {
  if (error instanceof EkmintError) return error;
  return new EkmintError({
    code: 'internal_error',
    message: 'Something went wrong while starting voice.',
    action: 'Try again; if it keeps failing, tell the site operator.',
    cause: error,
  });
}
