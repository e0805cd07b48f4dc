// @ts-check
/**
 * A voice session that keeps itself alive: it gets a key, connects with the OpenAI Agents SDK,
 * and after a drop, a refused call or an expired key it gets a new key and reconnects on a
 * 1 s, 2 s, 4 s schedule before giving up. Where WebRTC is missing it uses the SDK's WebSocket
 * transport. Everything reaches the page as DOM events and `EkmintError`s.
 */
import { EkmintError, browserError } from './errors.js';
import { RECONNECT_DELAYS_MS, sleep as realSleep, withDefaults, withTimeout } from './timing.js';

/** The SDK waits up to 5 s for `session.updated`; ICE can take longer to fail on its own. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
export const DEFAULT_AGENT_NAME = 'Assistant';

/** Failures that a new key and another try can fix; anything else ends the session. */
const RECOVERABLE = new Set(['ephemeral_key_expired', 'webrtc_connection_failed']);

/** @typedef {'idle' | 'connecting' | 'connected' | 'disconnected' | 'failed'} VoiceState */

/**
 * The parts of `@openai/agents-realtime` the client uses (what build.sh bundles).
 * @typedef {object} AgentsSdk
 * @property {new (config: Record<string, unknown>) => object} RealtimeAgent
 * @property {new (agent: object, options: Record<string, unknown>) => SdkSession} RealtimeSession
 * @property {new (options: Record<string, unknown>) => object} OpenAIRealtimeWebRTC
 * @property {new (options: Record<string, unknown>) => object} OpenAIRealtimeWebSocket
 */

/**
 * @typedef {object} SdkSession
 * @property {(options: { apiKey: string, url?: string }) => Promise<void>} connect
 * @property {() => void} close
 * @property {(type: string, listener: (...args: any[]) => void) => void} on
 * @property {SdkTransport} transport
 */

/**
 * @typedef {object} SdkTransport
 * @property {(type: string, listener: (...args: any[]) => void) => void} on
 * @property {{ dataChannel?: EventTarget }} [connectionState]
 */

/**
 * @typedef {object} VoiceOptions
 * @property {import('./client-secret.js').KeySource} keySource where keys come from
 * @property {string} [realtimeUrl] the WebRTC calls endpoint; OpenAI's unless set (the local
 *   stack's emulator answers at http://127.0.0.1:<port>/v1/realtime/calls)
 * @property {string} [websocketUrl] the WebSocket endpoint for the fallback; OpenAI's unless set
 * @property {string} [agentName]
 * @property {string} [instructions] replace the minted instructions (the service's policy
 *   decides what was minted; a page that sends its own overrides that for this session)
 * @property {HTMLAudioElement} [audioElement] where the model's voice plays (WebRTC)
 * @property {readonly number[]} [reconnectDelaysMs]
 * @property {number} [connectTimeoutMs]
 * @property {boolean} [webrtc] use WebRTC; default: whether this browser has RTCPeerConnection
 * @property {() => Promise<AgentsSdk>} [loadSdk]
 * @property {(constraints: MediaStreamConstraints) => Promise<MediaStream>} [getUserMedia]
 * @property {import('./timing.js').Sleep} [sleep]
 */

/**
 * Start a voice session now; listen for its events on the returned object.
 *
 * Events (each a `VoiceEvent`, whose `detail` is as below):
 * - `statechange` `{ state, previous, reason? }`: connecting, connected, disconnected, failed
 * - `key` `{ expiresAt, session }`: a key was obtained for a (re)connection; never its value
 * - `session` `{ type, session }`: the server's `session.created` / `session.updated`
 * - `retry` `{ attempt, delayMs, error }`: a reconnect is scheduled after a drop or a failure
 * - `error` `{ error }`: the session gave up (state `failed`); `error` is an `EkmintError`
 *
 * @param {VoiceOptions} options
 */
export function connectVoice(options) {
  return new VoiceConnection(options);
}

export class VoiceConnection extends EventTarget {
  /** @type {Required<Omit<VoiceOptions, 'realtimeUrl' | 'websocketUrl' | 'instructions' | 'audioElement'>> & VoiceOptions} */
  #options;
  /** @type {VoiceState} */
  #state = 'idle';
  #closed = false;
  #abort = new AbortController();
  /** @type {SdkSession | null} */
  #session = null;
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
        reconnectDelaysMs: RECONNECT_DELAYS_MS,
        connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
        webrtc: typeof globalThis.RTCPeerConnection === 'function',
        // A runtime import: pages that only need keys never load the SDK (about 1.4 MB).
        loadSdk: () => import('@openai/agents-realtime'),
        getUserMedia: defaultGetUserMedia,
        sleep: realSleep,
      },
      options,
    );
    /** Which SDK transport carries the session. */
    this.transport = this.#options.webrtc ? 'webrtc' : 'websocket';
    /** Resolves on the first `connected`; rejects with the final `EkmintError`. */
    this.ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.ready.catch(() => {}); // pages that only listen for events need not await it
    // Next microtask: listeners added right after connectVoice() returns see every event.
    queueMicrotask(() => void this.#run());
  }

  /** @returns {VoiceState} */
  get state() {
    return this.#state;
  }

  /** The SDK's RealtimeSession while connected (to send messages, mute, listen for audio). */
  get session() {
    return this.#session;
  }

  /** Hang up for good: no reconnect, microphone released, state `disconnected`. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort(new DOMException('The voice session was closed.', 'AbortError'));
    this.#endSession();
    this.#releaseMicrophone();
    this.#rejectReady(this.#abort.signal.reason);
    this.#setState('disconnected', { reason: 'closed' });
  }

  async #run() {
    try {
      const sdk = await this.#loadSdk();
      // Ask for the microphone before spending a key on a call that could not hear anyone.
      if (this.transport === 'webrtc') this.#microphone = await this.#openMicrophone();
      await this.#connectWithRetries(sdk);
    } catch (error) {
      if (!this.#closed) this.#fail(asEkmintError(error));
    }
  }

  /** @param {AgentsSdk} sdk */
  async #connectWithRetries(sdk) {
    const delays = this.#options.reconnectDelaysMs;
    let retries = 0;
    for (;;) {
      /** @type {EkmintError} */
      let problem;
      // Armed before connecting: a drop right after `connected` must not go unheard.
      /** @type {Promise<EkmintError>} */
      const dropped = new Promise((resolve) => {
        this.#reportDrop = resolve;
      });
      try {
        // Every retry gets a new key: the old one may be the reason it failed.
        await this.#connectOnce(sdk, retries > 0);
        if (this.#closed) return;
        retries = 0;
        this.#resolveReady();
        problem = await dropped;
      } catch (error) {
        problem = asEkmintError(error);
        if (this.#closed) return;
        if (!RECOVERABLE.has(problem.code)) throw problem;
      }
      this.#endSession();
      if (this.#closed) return;
      if (retries >= delays.length) throw problem;
      this.#setState('disconnected', { reason: problem.code });
      const delayMs = delays[retries];
      retries += 1;
      this.#emit('retry', { attempt: retries, delayMs, error: problem });
      await this.#options.sleep(delayMs, this.#abort.signal);
    }
  }

  /**
   * @param {AgentsSdk} sdk
   * @param {boolean} newKey
   */
  async #connectOnce(sdk, newKey) {
    this.#setState('connecting');
    const key = await this.#options.keySource.getClientSecret({
      forceRefresh: newKey,
      signal: this.#abort.signal,
    });
    if (this.#closed) return;
    this.#emit('key', { expiresAt: key.expiresAt, session: key.session });
    const session = this.#createSession(sdk, key.session.model);
    this.#session = session;
    session.on('transport_event', (/** @type {any} */ event) => this.#onServerEvent(event));
    // The SDK's emitter rethrows unhandled 'error' events on some runtimes; failures reach us
    // through connect() and the drop watch instead.
    session.on('error', () => {});
    try {
      const url = this.transport === 'webrtc' ? this.#options.realtimeUrl : this.#options.websocketUrl;
      await withTimeout(
        session.connect({ apiKey: key.value, ...(url ? { url } : {}) }),
        this.#options.connectTimeoutMs,
        () => browserError('webrtc_connection_failed', undefined, 'The voice connection timed out.'),
      );
    } catch (error) {
      throw connectError(error);
    }
    if (this.#closed || this.#session !== session) return;
    this.#watchForDrop(session);
    this.#setState('connected');
  }

  /**
   * @param {AgentsSdk} sdk
   * @param {string | undefined} model the minted model: a session cannot change it later
   * @returns {SdkSession}
   */
  #createSession(sdk, model) {
    const { instructions, audioElement, realtimeUrl } = this.#options;
    const transport =
      this.transport === 'webrtc'
        ? new sdk.OpenAIRealtimeWebRTC({
            // Ours, so the SDK leaves it running between reconnects (no new permission prompt).
            mediaStream: this.#microphone,
            ...(audioElement ? { audioElement } : {}),
            ...(realtimeUrl ? { baseUrl: realtimeUrl } : {}),
          })
        : new sdk.OpenAIRealtimeWebSocket({});
    const agent = new sdk.RealtimeAgent({
      name: this.#options.agentName,
      ...(instructions ? { instructions } : {}),
    });
    return new sdk.RealtimeSession(agent, {
      transport,
      ...(model ? { model } : {}),
      // The SDK's first session.update carries the agent's instructions, '' for an agent with
      // none, which would wipe what the service minted (and may have locked). providerData is
      // spread last into that payload; an undefined value drops the field from the JSON.
      ...(instructions ? {} : { config: { providerData: { instructions: undefined } } }),
    });
  }

  /** @param {SdkSession} session */
  #watchForDrop(session) {
    const dropped = () => {
      if (this.#session !== session || this.#closed) return;
      this.#reportDrop(browserError('webrtc_connection_failed', undefined, 'The voice connection was lost.'));
    };
    session.transport.on('connection_change', (/** @type {string} */ status) => {
      if (status === 'disconnected') dropped();
    });
    // After connect() the SDK watches the peer connection only, which can take seconds to
    // notice that the server hung up; the events channel closing says so at once.
    session.transport.connectionState?.dataChannel?.addEventListener('close', dropped);
  }

  /** @param {any} event */
  #onServerEvent(event) {
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

  async #openMicrophone() {
    try {
      return await this.#options.getUserMedia({ audio: true });
    } catch (error) {
      throw microphoneError(error);
    }
  }

  #endSession() {
    const session = this.#session;
    this.#session = null;
    try {
      session?.close();
    } catch {
      // Already closed by the SDK; nothing left to release.
    }
  }

  #releaseMicrophone() {
    for (const track of this.#microphone?.getTracks() ?? []) track.stop();
    this.#microphone = null;
  }

  /** @param {EkmintError} error */
  #fail(error) {
    this.#endSession();
    this.#releaseMicrophone();
    this.#closed = true;
    this.#setState('failed', { reason: error.code });
    this.#emit('error', { error });
    this.#rejectReady(error);
  }

  /**
   * @param {VoiceState} state
   * @param {{ reason?: string }} [extra]
   */
  #setState(state, extra = {}) {
    const previous = this.#state;
    if (previous === state) return;
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

/** An Event with a `detail`, like CustomEvent (which Node 18 lacks without a flag). */
export class VoiceEvent extends Event {
  /**
   * @param {string} type
   * @param {object} detail
   */
  constructor(type, detail) {
    super(type);
    this.detail = detail;
  }
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
 */
export function connectError(error) {
  if (error instanceof EkmintError) return error;
  const text = error instanceof Error ? error.message : String(error);
  if (/\bstatus 401\b/.test(text)) return browserError('ephemeral_key_expired', error);
  return browserError('webrtc_connection_failed', error);
}

/** @param {unknown} error */
function asEkmintError(error) {
  if (error instanceof EkmintError) return error;
  return new EkmintError({
    code: 'internal_error',
    message: 'Something went wrong while starting voice.',
    action: 'Press Start voice again; if it keeps failing, tell the site operator.',
    cause: error,
  });
}
