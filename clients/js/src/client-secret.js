// @ts-check
/**
 * Getting an `ek_` client secret from ekmint: one request at a time, cached until shortly
 * before it expires, retried on 429/503 within a bounded time.
 */
import { EkmintError, RETRYABLE_STATUS, errorFromAnswer } from './errors.js';
import { mintRetryDelayMs, sleep as realSleep, withDefaults } from './timing.js';

/** Give up retrying 429/503 once this much time has passed since the first attempt. */
export const DEFAULT_RETRY_BUDGET_MS = 20_000;
/** Refresh this long before `expires_at` (capped at a fifth of the key's life, for short TTLs). */
export const DEFAULT_REFRESH_MARGIN_MS = 30_000;

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
export function createKeySource(options) {
  if (!options?.url) throw new TypeError('createKeySource: `url` (the ekmint endpoint) is required');
  const settings = withDefaults(
    {
      retryBudgetMs: DEFAULT_RETRY_BUDGET_MS,
      refreshMarginMs: DEFAULT_REFRESH_MARGIN_MS,
      // Looked up at call time, so a page (or test) that replaces window.fetch later is heard.
      fetch: (/** @type {Parameters<typeof fetch>} */ ...args) => globalThis.fetch(...args),
      now: Date.now,
      sleep: realSleep,
      random: Math.random,
    },
    options,
  );
  /** @type {ClientSecret | null} */
  let cached = null;
  /** @param {ClientSecret} secret */
  const expiresInMs = (secret) => secret.expiresAt * 1000 - (settings.now() + secret.skewMs);

  /** @param {ClientSecret} secret */
  const isFresh = (secret) => {
    const lifetimeMs = secret.expiresAt * 1000 - (secret.receivedAtMs + secret.skewMs);
    const margin = Math.min(settings.refreshMarginMs, lifetimeMs / 5);
    return expiresInMs(secret) > margin;
  };

  /**
   * The request under way, shared by every caller that wants a new key. Its own controller:
   * one caller giving up (a React cleanup, a closed voice session) abandons only its own wait;
   * the request is aborted when no caller is left.
   * @type {{ promise: Promise<ClientSecret>, controller: AbortController, waiters: number } | null}
   */
  let inflight = null;

  /** @param {AbortSignal | undefined} signal */
  const joinRequest = async (signal) => {
    signal?.throwIfAborted();
    if (!inflight) {
      const controller = new AbortController();
      const request = {
        controller,
        waiters: 0,
        promise: mintWithRetries(settings, controller.signal).then(
          (secret) => {
            cached = secret;
            return secret;
          },
        ),
      };
      // A rejection nobody waits for any more (all callers left) is not an unhandled one.
      request.promise.catch(() => {});
      request.promise.finally(() => {
        if (inflight === request) inflight = null;
      }).catch(() => {});
      inflight = request;
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
      // Concurrent callers share one request: whatever it returns is a brand-new key.
      return joinRequest(signal);
    },
    peek: () => cached,
    invalidate() {
      cached = null;
    },
    expiresInMs,
  };
}

/**
 * `promise`, or a rejection with the signal's reason as soon as it aborts.
 * @template T
 * @param {Promise<T>} promise
 * @param {AbortSignal} [signal]
 * @returns {Promise<T>}
 */
function untilAborted(promise, signal) {
  if (!signal) return promise;
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * @param {Required<Omit<KeySourceOptions, 'getAuthToken' | 'request' | 'onRetry'>> & KeySourceOptions} settings
 * @param {AbortSignal} [signal]
 */
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

/**
 * @param {EkmintError} error
 * @param {number} attempts
 * @param {number} elapsedMs
 */
function gaveUp(error, attempts, elapsedMs) {
  const tried = attempts === 1 ? 'once' : `${attempts} times in ${Math.round(elapsedMs / 1000)} s`;
  return error.with({ message: `${error.message} (Tried ${tried}; giving up.)` });
}

/**
 * One request to the key service.
 * @param {Parameters<typeof mintWithRetries>[0]} settings
 * @param {AbortSignal} [signal]
 * @returns {Promise<ClientSecret>}
 */
async function mintOnce(settings, signal) {
  const headers = await requestHeaders(settings);
  /** @type {Response} */
  let response;
  try {
    response = await settings.fetch(settings.url, {
      method: 'POST',
      headers,
      // No body, no Content-Type: without a sign-in header that keeps the POST a CORS "simple
      // request", which saves the preflight round trip.
      body: settings.request ? JSON.stringify(settings.request) : undefined,
      cache: 'no-store',
      credentials: 'omit',
      signal,
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    // A browser reports DNS, offline, TLS and CORS refusals alike, with no detail for pages.
    throw new EkmintError({
      code: 'internal_error',
      message: `Could not reach the key service at ${settings.url}.`,
      action:
        "Check the network connection, the page's key service URL, and that this page's origin " +
        'is in the service’s ALLOWED_ORIGINS; then try again.',
      cause: error,
    });
  }
  const body = await readJson(response);
  if (!response.ok) throw errorFromAnswer(response.status, body, response.headers);
  return parseSecret(body, response, settings.now());
}

/** @param {Parameters<typeof mintWithRetries>[0]} settings */
async function requestHeaders(settings) {
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  if (settings.request) headers['Content-Type'] = 'application/json';
  if (!settings.getAuthToken) return headers;
  let token;
  try {
    token = await settings.getAuthToken();
  } catch (error) {
    throw new EkmintError({
      code: 'unauthorized',
      message: 'Could not get your sign-in token for the key service.',
      cause: error,
    });
  }
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

/** @param {Response} response */
async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return null; // an HTML error page from a proxy: the status decides the code
  }
}

/**
 * @param {any} body
 * @param {Response} response
 * @param {number} nowMs
 * @returns {ClientSecret}
 */
function parseSecret(body, response, nowMs) {
  const valid =
    body &&
    typeof body.value === 'string' &&
    body.value.startsWith('ek_') &&
    Number.isFinite(body.expires_at);
  if (!valid) {
    throw new EkmintError({
      code: 'internal_error',
      message: 'The key service answered, but without a usable voice key.',
      requestId: response.headers.get('x-request-id'),
      status: response.status,
    });
  }
  const session = body.session ?? {};
  return {
    value: body.value,
    expiresAt: body.expires_at,
    session: { type: session.type, model: session.model, voice: session.voice },
    receivedAtMs: nowMs,
    skewMs: clockSkewMs(response.headers.get('date'), nowMs),
    ...(typeof body.webrtc_url === 'string' && body.webrtc_url ? { webrtcUrl: body.webrtc_url } : {}),
  };
}

/**
 * Server minus local clock, from the Date header (readable same-origin, and cross-origin
 * because the service lists it in Access-Control-Expose-Headers; where a proxy hides it we
 * assume the clocks agree). Under 2 s is noise: Date has 1 s steps.
 * @param {string | null} dateHeader
 * @param {number} nowMs
 */
export function clockSkewMs(dateHeader, nowMs) {
  const serverMs = dateHeader ? Date.parse(dateHeader) : Number.NaN;
  if (Number.isNaN(serverMs)) return 0;
  const skew = serverMs - nowMs;
  return Math.abs(skew) < 2000 ? 0 : skew;
}
