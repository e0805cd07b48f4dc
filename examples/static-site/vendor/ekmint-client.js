/* ekmint client 0.2.0 bundled by clients/js/build.sh from clients/js/src; do not edit. */

// src/errors.js
var ERROR_TEXT = {
  invalid_session_config: {
    message: "The key service refused the session settings this page asked for.",
    action: "Fix the page's session settings; see the service's session policy."
  },
  invalid_offer: {
    message: "The voice connection offer was refused.",
    action: "Reload the page and try again; if it keeps failing, tell the site operator."
  },
  unauthorized: {
    message: "You are not signed in, or your sign-in has expired.",
    action: "Sign in again, then retry."
  },
  origin_not_allowed: {
    message: "This site is not allowed to ask the key service for voice keys.",
    action: "Ask the operator to add this page's origin to ALLOWED_ORIGINS."
  },
  payload_too_large: {
    message: "The request to the key service was too large.",
    action: "Send only session settings in the request body."
  },
  unsupported_media_type: {
    message: "The request to the key service was not JSON.",
    action: "Send the body as JSON with 'Content-Type: application/json'."
  },
  rate_limited: {
    message: "Too many voice keys were requested; the limit refills shortly.",
    action: "Wait a moment, then try again."
  },
  token_generation_failed: {
    message: "The key service could not get a voice key from OpenAI.",
    action: "This will not fix itself on retry; tell the site operator."
  },
  openai_api_unavailable: {
    message: "OpenAI is busy or unreachable right now.",
    action: "Try again in a few seconds."
  },
  audit_unavailable: {
    message: "The key service could not record the request, so it withheld the key.",
    action: "Try again shortly."
  },
  internal_error: {
    message: "Something went wrong in the key service.",
    action: "Try again later; if it keeps failing, tell the site operator."
  },
  not_found: {
    message: "The key service has no such route.",
    action: "Check the page's key service URL (it ends in /api/client-secret)."
  },
  ephemeral_key_expired: {
    message: "The voice key expired before the call could start.",
    action: "A new key is fetched automatically; if this keeps happening, check the device's clock."
  },
  webrtc_connection_failed: {
    message: "The voice connection could not be set up, or it was lost.",
    action: "Check your network (a firewall or VPN can block WebRTC), then try again."
  },
  webrtc_unsupported: {
    message: "This browser cannot make voice calls (it has no WebRTC).",
    action: "Use a current browser (Chrome, Edge, Firefox or Safari)."
  },
  websocket_connection_failed: {
    message: "The voice connection (WebSocket) could not be set up, or it was lost.",
    action: "Check your network (a proxy can block WebSockets), then try again."
  },
  realtime_error: {
    message: "The voice service reported an error.",
    action: "The session goes on; if the problem persists, tell the site operator."
  },
  voice_closed: {
    message: "The voice session was closed.",
    action: "Start a new voice session to talk again."
  },
  microphone_access_denied: {
    message: "The page is not allowed to use the microphone.",
    action: "Allow microphone access for this site (the icon in the address bar), then try again."
  }
};
var RETRYABLE_STATUS = /* @__PURE__ */ new Set([429, 503]);
var CODE_BY_STATUS = {
  400: "invalid_session_config",
  401: "unauthorized",
  403: "origin_not_allowed",
  404: "not_found",
  413: "payload_too_large",
  415: "unsupported_media_type",
  429: "rate_limited",
  503: "openai_api_unavailable"
};
var EkmintError = class _EkmintError extends Error {
  /** @param {EkmintErrorInit} init */
  constructor({ code, message, action, requestId = null, status = null, retryAfterS = null, cause }) {
    const text = ERROR_TEXT[code] ?? ERROR_TEXT.internal_error;
    super(message || text.message, cause === void 0 ? void 0 : { cause });
    this.name = "EkmintError";
    this.code = code;
    this.action = action || text.action;
    this.requestId = requestId;
    this.status = status;
    this.retryAfterS = retryAfterS;
  }
  /** @param {Partial<EkmintErrorInit>} changes */
  with(changes) {
    return new _EkmintError({
      code: this.code,
      message: this.message,
      action: this.action,
      requestId: this.requestId,
      status: this.status,
      retryAfterS: this.retryAfterS,
      cause: this.cause,
      ...changes
    });
  }
  toJSON() {
    return { code: this.code, message: this.message, action: this.action, request_id: this.requestId };
  }
};
function browserError(code, cause, message) {
  return new EkmintError({ code, cause, message });
}
function errorFromAnswer(status, body, headers) {
  const envelope = isObject(body) && isObject(body.error) ? body.error : null;
  const known = envelope && typeof envelope.code === "string" && envelope.code in ERROR_TEXT;
  const code = known ? (
    /** @type {ErrorCode} */
    envelope.code
  ) : CODE_BY_STATUS[status] ?? "internal_error";
  return new EkmintError({
    code,
    message: known ? stringOr(envelope.message) : void 0,
    action: known ? stringOr(envelope.action) : void 0,
    requestId: (known ? stringOr(envelope.request_id) : void 0) ?? headers.get("x-request-id"),
    status,
    retryAfterS: retryAfterSeconds(headers.get("retry-after"))
  });
}
function retryAfterSeconds(value, nowMs = Date.now()) {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, (date - nowMs) / 1e3);
}
function isObject(value) {
  return typeof value === "object" && value !== null;
}
function stringOr(value) {
  return typeof value === "string" && value ? value : void 0;
}

// src/timing.js
var RECONNECT_DELAYS_MS = Object.freeze([1e3, 2e3, 4e3]);
var MINT_BACKOFF_BASE_MS = 500;
var MINT_BACKOFF_MAX_MS = 8e3;
var JITTER = 0.2;
function mintRetryDelayMs(attempt, retryAfterS, random = Math.random) {
  const exponential = Math.min(MINT_BACKOFF_BASE_MS * 2 ** (attempt - 1), MINT_BACKOFF_MAX_MS);
  const jittered = exponential * (1 - JITTER + 2 * JITTER * random());
  const floor = retryAfterS == null ? 0 : retryAfterS * 1e3;
  return Math.round(Math.max(jittered, floor));
}
function sleep(ms, signal) {
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
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
function withTimeout(promise, ms, onTimeout) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return (
    /** @type {Promise<T>} */
    Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
  );
}
function withDefaults(defaults, options) {
  const set = Object.entries(options ?? {}).filter(([, value]) => value !== void 0);
  return (
    /** @type {D & O} */
    { ...defaults, ...Object.fromEntries(set) }
  );
}

// src/client-secret.js
var DEFAULT_RETRY_BUDGET_MS = 2e4;
var DEFAULT_REFRESH_MARGIN_MS = 3e4;
function createKeySource(options) {
  if (!options?.url) throw new TypeError("createKeySource: `url` (the ekmint endpoint) is required");
  const settings = withDefaults(
    {
      retryBudgetMs: DEFAULT_RETRY_BUDGET_MS,
      refreshMarginMs: DEFAULT_REFRESH_MARGIN_MS,
      // Looked up at call time, so a page (or test) that replaces window.fetch later is heard.
      fetch: (...args) => globalThis.fetch(...args),
      now: Date.now,
      sleep,
      random: Math.random
    },
    options
  );
  let cached = null;
  const expiresInMs = (secret) => secret.expiresAt * 1e3 - (settings.now() + secret.skewMs);
  const isFresh = (secret) => {
    const lifetimeMs = secret.expiresAt * 1e3 - (secret.receivedAtMs + secret.skewMs);
    const margin = Math.min(settings.refreshMarginMs, lifetimeMs / 5);
    return expiresInMs(secret) > margin;
  };
  let inflight = null;
  const joinRequest = async (signal) => {
    signal?.throwIfAborted();
    if (!inflight) {
      const controller = new AbortController();
      const request2 = {
        controller,
        waiters: 0,
        promise: mintWithRetries(settings, controller.signal).then(
          (secret) => {
            cached = secret;
            return secret;
          }
        )
      };
      request2.promise.catch(() => {
      });
      request2.promise.finally(() => {
        if (inflight === request2) inflight = null;
      }).catch(() => {
      });
      inflight = request2;
    }
    const request = inflight;
    request.waiters += 1;
    try {
      return await untilAborted(request.promise, signal);
    } finally {
      request.waiters -= 1;
      if (request.waiters === 0 && signal?.aborted) {
        if (inflight === request) inflight = null;
        request.controller.abort(signal.reason);
      }
    }
  };
  return {
    async getClientSecret({ forceRefresh = false, signal } = {}) {
      if (!forceRefresh && cached && isFresh(cached)) return cached;
      return joinRequest(signal);
    },
    peek: () => cached,
    invalidate() {
      cached = null;
    },
    expiresInMs
  };
}
function untilAborted(promise, signal) {
  if (!signal) return promise;
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
async function mintWithRetries(settings, signal) {
  const startedMs = settings.now();
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await mintOnce(settings, signal);
    } catch (error) {
      if (!(error instanceof EkmintError) || !RETRYABLE_STATUS.has(error.status ?? 0)) throw error;
      const delayMs = mintRetryDelayMs(attempt, error.retryAfterS, settings.random);
      const elapsedMs = settings.now() - startedMs;
      if (elapsedMs + delayMs > settings.retryBudgetMs) throw gaveUp(error, attempt, elapsedMs);
      settings.onRetry?.({ attempt, delayMs, error });
      await settings.sleep(delayMs, signal);
    }
  }
}
function gaveUp(error, attempts, elapsedMs) {
  const tried = attempts === 1 ? "once" : `${attempts} times in ${Math.round(elapsedMs / 1e3)} s`;
  return error.with({ message: `${error.message} (Tried ${tried}; giving up.)` });
}
async function mintOnce(settings, signal) {
  const headers = await requestHeaders(settings);
  let response;
  try {
    response = await settings.fetch(settings.url, {
      method: "POST",
      headers,
      // No body, no Content-Type: without a sign-in header that keeps the POST a CORS "simple
      // request", which saves the preflight round trip.
      body: settings.request ? JSON.stringify(settings.request) : void 0,
      cache: "no-store",
      credentials: "omit",
      signal
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new EkmintError({
      code: "internal_error",
      message: `Could not reach the key service at ${settings.url}.`,
      action: "Check the network connection, the page's key service URL, and that this page's origin is in the service\u2019s ALLOWED_ORIGINS; then try again.",
      cause: error
    });
  }
  const body = await readJson(response);
  if (!response.ok) throw errorFromAnswer(response.status, body, response.headers);
  return parseSecret(body, response, settings.now());
}
async function requestHeaders(settings) {
  const headers = { Accept: "application/json" };
  if (settings.request) headers["Content-Type"] = "application/json";
  if (!settings.getAuthToken) return headers;
  let token;
  try {
    token = await settings.getAuthToken();
  } catch (error) {
    throw new EkmintError({
      code: "unauthorized",
      message: "Could not get your sign-in token for the key service.",
      cause: error
    });
  }
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}
async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}
function parseSecret(body, response, nowMs) {
  const valid = body && typeof body.value === "string" && body.value.startsWith("ek_") && Number.isFinite(body.expires_at);
  if (!valid) {
    throw new EkmintError({
      code: "internal_error",
      message: "The key service answered, but without a usable voice key.",
      requestId: response.headers.get("x-request-id"),
      status: response.status
    });
  }
  const session = body.session ?? {};
  return {
    value: body.value,
    expiresAt: body.expires_at,
    session: { type: session.type, model: session.model, voice: session.voice },
    receivedAtMs: nowMs,
    skewMs: clockSkewMs(response.headers.get("date"), nowMs),
    ...typeof body.webrtc_url === "string" && body.webrtc_url ? { webrtcUrl: body.webrtc_url } : {}
  };
}
function clockSkewMs(dateHeader, nowMs) {
  const serverMs = dateHeader ? Date.parse(dateHeader) : Number.NaN;
  if (Number.isNaN(serverMs)) return 0;
  const skew = serverMs - nowMs;
  return Math.abs(skew) < 2e3 ? 0 : skew;
}

// src/session-settings.js
var DEFAULTED = [
  [["output_modalities"], (c) => [c.outputModalities, c.modalities]],
  [["tool_choice"], (c) => [c.toolChoice]],
  [["audio", "input", "format"], (c) => [c.audio?.input?.format, c.inputAudioFormat]],
  [["audio", "input", "noise_reduction"], (c) => [c.audio?.input?.noiseReduction, c.inputAudioNoiseReduction]],
  [["audio", "input", "transcription"], (c) => [c.audio?.input?.transcription, c.inputAudioTranscription]],
  [["audio", "input", "turn_detection"], (c) => [c.audio?.input?.turnDetection, c.turnDetection]],
  [["audio", "output", "format"], (c) => [c.audio?.output?.format, c.outputAudioFormat]],
  [["audio", "output", "voice"], (c) => [c.audio?.output?.voice, c.voice]],
  [["audio", "output", "speed"], (c) => [c.audio?.output?.speed, c.speed]]
];
function sendOnlyExplicitSettings(transport, pageConfig = {}, { fixedModel = false } = {}) {
  const target = (
    /** @type {{ _getMergedSessionConfig?: (config: Json) => Json }} */
    transport
  );
  const merge = target._getMergedSessionConfig;
  if (typeof merge !== "function") return false;
  const defaults = merge.call(transport, {});
  target._getMergedSessionConfig = (config) => {
    const trimmed = onlyExplicit(merge.call(transport, config), defaults, pageConfig);
    if (fixedModel) delete trimmed.model;
    return trimmed;
  };
  return true;
}
function onlyExplicit(payload, defaults, pageConfig) {
  const trimmed = structuredClone(payload);
  if (!trimmed.instructions) delete trimmed.instructions;
  for (const [path, setBy] of DEFAULTED) {
    const pageSet = setBy(pageConfig).some((value) => value !== void 0);
    if (!pageSet && same(valueAt(trimmed, path), valueAt(defaults, path))) removeAt(trimmed, path);
  }
  return trimmed;
}
function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}
function valueAt(object, path) {
  return path.reduce(
    (node, key) => node?.[key],
    /** @type {any} */
    object
  );
}
function removeAt(object, path) {
  const parents = [object];
  for (const key of path.slice(0, -1)) {
    const next = parents.at(-1)?.[key];
    if (typeof next !== "object" || next === null) return;
    parents.push(next);
  }
  const last = (
    /** @type {Json} */
    parents.at(-1)
  );
  delete last[
    /** @type {string} */
    path.at(-1)
  ];
  for (let depth = parents.length - 1; depth > 0; depth -= 1) {
    if (Object.keys(parents[depth]).length) break;
    delete parents[depth - 1][path[depth - 1]];
  }
}

// src/voice.js
var DEFAULT_CONNECT_TIMEOUT_MS = 15e3;
var DEFAULT_AGENT_NAME = "Assistant";
var DEFAULT_STABLE_AFTER_MS = 3e4;
var DEFAULT_MAX_RECONNECT_KEYS_PER_MINUTE = 6;
var DEFAULT_MAX_RATE_LIMIT_WAIT_MS = 6e4;
var MINUTE_MS = 6e4;
var RELAY_NO_TOKEN = "none";
var RECOVERABLE = /* @__PURE__ */ new Set(["ephemeral_key_expired", "webrtc_connection_failed", "websocket_connection_failed"]);
var BUSY = /* @__PURE__ */ new Set(["rate_limited", "openai_api_unavailable"]);
function connectVoice(options) {
  return new VoiceConnection(options);
}
var VoiceConnection = class extends EventTarget {
  /** @type {Required<Omit<VoiceOptions, 'realtimeUrl' | 'websocketUrl' | 'instructions' | 'audioElement' | 'agent' | 'webrtc' | 'relayUrl' | 'relaySession' | 'getAuthToken'>> & VoiceOptions} */
  #options;
  /** @type {VoiceState} */
  #state = "idle";
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
  #reportDrop = () => {
  };
  /** @type {(value: void) => void} */
  #resolveReady = () => {
  };
  /** @type {(reason: unknown) => void} */
  #rejectReady = () => {
  };
  /** @param {VoiceOptions} options */
  constructor(options) {
    super();
    if (!options?.keySource) throw new TypeError("connectVoice: `keySource` is required");
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
        via: "mint",
        // A runtime import: pages that only need keys never load the SDK (about 1.4 MB).
        loadSdk: () => import("@openai/agents-realtime"),
        getUserMedia: defaultGetUserMedia,
        sleep,
        now: Date.now
      },
      options
    );
    this.via = this.#options.via === "relay" ? "relay" : "mint";
    if (this.via === "relay") {
      if (!this.#options.relayUrl) throw new TypeError("connectVoice: `relayUrl` is required with via: 'relay'");
      if (this.#options.webrtc === false) throw new TypeError("connectVoice: via: 'relay' needs WebRTC");
    }
    const hasWebRtc = typeof globalThis.RTCPeerConnection === "function";
    const webrtc = this.via === "relay" || (this.#options.webrtc ?? (hasWebRtc || !this.#options.websocketFallback));
    this.transport = webrtc ? "webrtc" : "websocket";
    this.#unsupported = webrtc && this.#options.webrtc === void 0 && !hasWebRtc;
    this.ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.ready.catch(() => {
    });
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
    if (this.transport === "webrtc") this.#session?.mute(muted);
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
    const closed = new EkmintError({ code: "voice_closed" });
    this.#setState("disconnected", { reason: "closed" });
    this.#closed = true;
    this.#abort.abort(closed);
    this.#endSession();
    this.#releaseMicrophone();
    this.#rejectReady(closed);
  }
  async #run() {
    try {
      if (this.#unsupported) throw browserError("webrtc_unsupported");
      const sdk = await this.#loadSdk();
      if (this.#closed) return;
      if (this.transport === "webrtc") await this.#ensureMicrophone();
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
    const reconnectKeys = [];
    for (; ; ) {
      let problem;
      const dropped = new Promise((resolve) => {
        this.#reportDrop = resolve;
      });
      try {
        if (retries > 0) reconnectKeys.push(now());
        await this.#connectOnce(sdk, retries > 0);
        if (this.#closed) return;
        connectedOnce = true;
        this.#resolveReady();
        problem = await dropped;
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
      this.#setState("disconnected", { reason: problem.code });
      let delayMs = delays[retries];
      if (BUSY.has(problem.code) && problem.retryAfterS != null) {
        delayMs = Math.max(delayMs, Math.ceil(problem.retryAfterS) * 1e3);
        problem = problem.with({ message: `${withoutGaveUp(problem.message)} Reconnecting in ${delayMs / 1e3} s.` });
      }
      retries += 1;
      this.#emit("retry", { attempt: retries, delayMs, error: problem });
      await this.#options.sleep(delayMs, this.#abort.signal);
      if (this.transport === "webrtc") await this.#ensureMicrophone();
      if (this.#closed) return;
    }
  }
  /**
   * @param {EkmintError} problem
   * @param {boolean} connectedOnce
   */
  #recoverable(problem, connectedOnce) {
    if (RECOVERABLE.has(problem.code)) return true;
    if (!connectedOnce || !BUSY.has(problem.code)) return false;
    if (problem.retryAfterS == null) return this.via === "relay";
    return problem.retryAfterS * 1e3 <= this.#options.maxRateLimitWaitMs;
  }
  /**
   * @param {AgentsSdk} sdk
   * @param {boolean} newKey
   */
  async #connectOnce(sdk, newKey) {
    this.#setState("connecting");
    const target = this.via === "relay" ? await this.#relayTarget() : await this.#mintedTarget(newKey);
    if (this.#closed) return;
    const session = await this.#createSession(sdk, target.model);
    if (this.#closed) return;
    this.#session = session;
    session.on("transport_event", (event) => this.#onServerEvent(event));
    session.on("error", (event) => {
      if (this.#session === session && !this.#closed) this.#emit("realtimeerror", { error: realtimeError(event) });
    });
    this.#sessionsStarted += 1;
    this.#emit("sessionstart", {
      session,
      reconnect: this.#sessionsStarted > 1,
      previousHistory: this.#lastHistory
    });
    try {
      const { apiKey, url } = target;
      await withTimeout(
        session.connect({ apiKey, ...url ? { url } : {} }),
        this.#options.connectTimeoutMs,
        () => browserError(this.#connectionCode(), void 0, "The voice connection timed out.")
      );
    } catch (error) {
      throw this.via === "relay" ? relayError(error) : connectError(error, this.#connectionCode());
    }
    if (this.#closed || this.#session !== session) return;
    if (this.transport === "webrtc") session.mute(this.#muted);
    this.#watchForDrop(session);
    this.#connectedAt = this.#options.now();
    this.#setState("connected");
  }
  /**
   * A key from the key service (a new one for every retry: the old one may be why it failed).
   * @param {boolean} newKey
   * @returns {Promise<ConnectTarget>}
   */
  async #mintedTarget(newKey) {
    const key = await this.#options.keySource.getClientSecret({
      forceRefresh: newKey,
      signal: this.#abort.signal
    });
    if (!this.#closed) this.#emit("key", { expiresAt: key.expiresAt, session: key.session });
    const url = this.transport === "webrtc" ? key.webrtcUrl ?? this.#options.realtimeUrl : this.#options.websocketUrl;
    return { apiKey: key.value, model: key.session.model, url };
  }
  /**
   * ekmint's calls route, with the page's sign-in token (if any) as the bearer the SDK sends.
   * @returns {Promise<ConnectTarget>}
   */
  async #relayTarget() {
    const { relayUrl = "", relaySession = {}, getAuthToken } = this.#options;
    let token;
    try {
      token = getAuthToken ? await getAuthToken() : null;
    } catch (error) {
      throw new EkmintError({ code: "unauthorized", message: "Could not get your sign-in token for the voice service.", cause: error });
    }
    const url = new URL(relayUrl, globalThis.location?.href);
    for (
      const name of
      /** @type {const} */
      ["model", "voice"]
    ) {
      const value = relaySession[name];
      if (value) url.searchParams.set(name, value);
    }
    return { apiKey: token || RELAY_NO_TOKEN, model: relaySession.model, url: url.href };
  }
  #connectionCode() {
    return this.transport === "webrtc" ? "webrtc_connection_failed" : "websocket_connection_failed";
  }
  /**
   * @param {AgentsSdk} sdk
   * @param {string | undefined} model the minted model: a session cannot change it later
   * @returns {Promise<RealtimeSession>}
   */
  async #createSession(sdk, model) {
    const { audioElement, realtimeUrl, websocketUrl, sessionOptions } = this.#options;
    const transport = this.transport === "webrtc" ? new sdk.OpenAIRealtimeWebRTC({
      // Ours, so the SDK leaves it running between reconnects (no new permission prompt).
      ...this.#microphone ? { mediaStream: this.#microphone } : {},
      ...audioElement ? { audioElement } : {},
      ...realtimeUrl ? { baseUrl: realtimeUrl } : {},
      // Relayed, the SDK's "API key" is the page's own sign-in token for ekmint (or
      // RELAY_NO_TOKEN), never an OpenAI key; the SDK refuses non-ek_ values in a
      // browser unless told this.
      ...this.via === "relay" ? { useInsecureApiKey: true } : {}
    }) : new sdk.OpenAIRealtimeWebSocket(websocketUrl ? { url: websocketUrl } : {});
    sendOnlyExplicitSettings(transport, sessionOptions.config, { fixedModel: this.via === "relay" });
    const agent = await this.#agent(sdk);
    return new sdk.RealtimeSession(agent, {
      ...sessionOptions,
      transport,
      ...model ? { model } : {}
    });
  }
  /**
   * @param {AgentsSdk} sdk
   * @returns {Promise<RealtimeAgent>}
   */
  async #agent(sdk) {
    const { agent, agentName, instructions } = this.#options;
    if (typeof agent === "function") return agent();
    if (agent) return agent;
    return new sdk.RealtimeAgent({ name: agentName, ...instructions ? { instructions } : {} });
  }
  /** @param {RealtimeSession} session */
  #watchForDrop(session) {
    const dropped = () => {
      if (this.#session !== session || this.#closed) return;
      this.#reportDrop(browserError(this.#connectionCode(), void 0, "The voice connection was lost."));
    };
    session.transport.on("connection_change", (status) => {
      if (status === "disconnected") dropped();
    });
    const state = (
      /** @type {{ connectionState?: { dataChannel?: EventTarget } }} */
      session.transport.connectionState
    );
    state?.dataChannel?.addEventListener("close", dropped);
  }
  /** @param {any} event */
  #onServerEvent(event) {
    if (this.#closed) return;
    if (event?.type === "session.created" || event?.type === "session.updated") {
      this.#emit("session", { type: event.type, session: event.session });
    }
  }
  async #loadSdk() {
    try {
      return await this.#options.loadSdk();
    } catch (error) {
      throw new EkmintError({
        code: "internal_error",
        message: "The voice library (@openai/agents-realtime) could not be loaded.",
        action: "Reload the page; if it keeps failing, tell the site operator (the page's import map must point @openai/agents-realtime at the bundled SDK).",
        cause: error
      });
    }
  }
  /** Open the microphone, or open it again if its device went away (an ended track). */
  async #ensureMicrophone() {
    const tracks = this.#microphone?.getTracks() ?? [];
    if (tracks.length && tracks.every((track) => track.readyState !== "ended")) return;
    this.#releaseMicrophone();
    let stream;
    try {
      stream = await this.#options.getUserMedia({ audio: true });
    } catch (error) {
      throw microphoneError(error);
    }
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
    if (this.transport === "webrtc" && typeof session.muted === "boolean") this.#muted = session.muted;
    this.#lastHistory = [...session.history ?? []];
    try {
      session.close();
    } catch {
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
    this.#setState("failed", { reason: error.code });
    this.#closed = true;
    this.#emit("error", { error });
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
    this.#emit("statechange", { state, previous, ...extra });
  }
  /**
   * @param {string} type
   * @param {object} detail
   */
  #emit(type, detail) {
    this.dispatchEvent(new VoiceEvent(type, detail));
  }
};
var VoiceEvent = class extends Event {
  /**
   * @param {string} type
   * @param {D} detail
   */
  constructor(type, detail) {
    super(type);
    this.detail = detail;
  }
};
function stopTracks(stream) {
  for (const track of stream.getTracks()) track.stop();
}
function withoutGaveUp(message) {
  return message.replace(/\s*\(Tried [^)]*; giving up\.\)$/, "");
}
function realtimeError(event) {
  const inner = event?.error;
  const server = inner?.error ?? inner;
  const text = typeof server?.message === "string" ? server.message : inner instanceof Error ? inner.message : "";
  return new EkmintError({
    code: "realtime_error",
    message: text ? `The voice service reported an error: ${text}` : void 0,
    cause: inner
  });
}
function defaultGetUserMedia(constraints) {
  const media = globalThis.navigator?.mediaDevices;
  if (!media?.getUserMedia) {
    return Promise.reject(
      browserError(
        "microphone_access_denied",
        void 0,
        "This browser offers no microphone here (the page must be served over HTTPS)."
      )
    );
  }
  return media.getUserMedia(constraints);
}
function microphoneError(error) {
  if (error instanceof EkmintError) return error;
  const name = (
    /** @type {{ name?: string }} */
    error?.name
  );
  if (name === "NotFoundError" || name === "OverconstrainedError") {
    return new EkmintError({
      code: "microphone_access_denied",
      message: "No microphone was found.",
      action: "Connect a microphone, then try again.",
      cause: error
    });
  }
  if (name === "NotReadableError" || name === "AbortError") {
    return new EkmintError({
      code: "microphone_access_denied",
      message: "The microphone could not be started; another app may be using it.",
      action: "Close other apps that use the microphone, then try again.",
      cause: error
    });
  }
  return browserError("microphone_access_denied", error);
}
function connectError(error, code = "webrtc_connection_failed") {
  if (error instanceof EkmintError) return error;
  const text = error instanceof Error ? error.message : String(error);
  if (/\bstatus 401\b/.test(text)) return browserError("ephemeral_key_expired", error);
  return browserError(code, error);
}
function relayError(error) {
  if (error instanceof EkmintError) return error;
  const text = error instanceof Error ? error.message : String(error);
  const match = /Realtime call request failed with status (\d{3})(?::\s*([\s\S]*))?$/.exec(text);
  if (!match) return browserError("webrtc_connection_failed", error);
  const status = Number(match[1]);
  const message = match[2]?.trim() || void 0;
  let code = CODE_BY_STATUS[status] ?? (status === 502 ? "token_generation_failed" : "internal_error");
  if (status === 400 && /SDP offer/i.test(message ?? "")) code = "invalid_offer";
  if (status === 503 && /could not be recorded/i.test(message ?? "")) code = "audit_unavailable";
  return new EkmintError({ code, message, status, cause: error });
}
function asEkmintError(error) {
  if (error instanceof EkmintError) return error;
  return new EkmintError({
    code: "internal_error",
    message: "Something went wrong while starting voice.",
    action: "Try again; if it keeps failing, tell the site operator.",
    cause: error
  });
}

// src/index.js
function createEkmintClient(options) {
  const { voice: voiceDefaults = {}, ...keyOptions } = options;
  const keySource = createKeySource(keyOptions);
  const relayDefaults = relayOptions(keyOptions);
  return {
    /** A key that is still good, from the cache or a new request (retried on 429/503). */
    getClientSecret: keySource.getClientSecret,
    /** The cached key without a request, or null. */
    peekClientSecret: keySource.peek,
    /** Milliseconds until a key expires, by this device's clock corrected for the server's. */
    expiresInMs: keySource.expiresInMs,
    /**
     * Start a voice session (see `connectVoice` in voice.js for its events).
     * @param {Omit<import('./voice.js').VoiceOptions, 'keySource'>} [voiceOptions]
     */
    connectVoice: (voiceOptions = {}) => connectVoice({ ...relayDefaults, ...voiceDefaults, ...voiceOptions, keySource })
  };
}
function relayOptions({ url, getAuthToken, request }) {
  const session = (
    /** @type {any} */
    request?.session ?? {}
  );
  const model = typeof session.model === "string" ? session.model : void 0;
  const voice = session.audio?.output?.voice;
  const relayUrl = /\/api\/client-secret\/?$/.test(url) ? url.replace(/\/api\/client-secret\/?$/, "/api/realtime/calls") : void 0;
  return {
    ...relayUrl ? { relayUrl } : {},
    ...getAuthToken ? { getAuthToken } : {},
    relaySession: { ...model ? { model } : {}, ...typeof voice === "string" ? { voice } : {} }
  };
}
export {
  ERROR_TEXT,
  EkmintError,
  RECONNECT_DELAYS_MS,
  RELAY_NO_TOKEN,
  VoiceConnection,
  VoiceEvent,
  clockSkewMs,
  connectVoice,
  createEkmintClient,
  createKeySource
};
