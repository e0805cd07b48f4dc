// @ts-check
/**
 * Every failure the client reports is an `EkmintError` with one of these codes: the service's
 * own (docs/design.md, "The service's own contract") or the browser-side ones. Each has a
 * message a person understands and the action to take, so a page can show `message` and `action`
 * as they are.
 */

/**
 * @typedef {'invalid_session_config' | 'invalid_offer' | 'unauthorized' | 'origin_not_allowed'
 *   | 'payload_too_large' | 'unsupported_media_type' | 'rate_limited'
 *   | 'token_generation_failed' | 'openai_api_unavailable' | 'audit_unavailable'
 *   | 'internal_error' | 'not_found'
 *   | 'ephemeral_key_expired' | 'webrtc_connection_failed' | 'microphone_access_denied'
 *   | 'webrtc_unsupported' | 'websocket_connection_failed' | 'realtime_error' | 'voice_closed'
 * } ErrorCode
 */

/** @typedef {{ message: string, action: string }} ErrorText */

/**
 * What to say when the service's answer has no envelope of its own (API Gateway's own
 * throttling or timeout pages, a proxy) and for the browser-side codes.
 * @type {Record<ErrorCode, ErrorText>}
 */
export const ERROR_TEXT = {
  invalid_session_config: {
    message: 'The key service refused the session settings this page asked for.',
    action: "Fix the page's session settings; see the service's session policy.",
  },
  invalid_offer: {
    message: 'The voice connection offer was refused.',
    action: 'Reload the page and try again; if it keeps failing, tell the site operator.',
  },
  unauthorized: {
    message: 'You are not signed in, or your sign-in has expired.',
    action: 'Sign in again, then retry.',
  },
  origin_not_allowed: {
    message: 'This site is not allowed to ask the key service for voice keys.',
    action: "Ask the operator to add this page's origin to ALLOWED_ORIGINS.",
  },
  payload_too_large: {
    message: 'The request to the key service was too large.',
    action: 'Send only session settings in the request body.',
  },
  unsupported_media_type: {
    message: 'The request to the key service was not JSON.',
    action: "Send the body as JSON with 'Content-Type: application/json'.",
  },
  rate_limited: {
    message: 'Too many voice keys were requested; the limit refills shortly.',
    action: 'Wait a moment, then try again.',
  },
  token_generation_failed: {
    message: 'The key service could not get a voice key from OpenAI.',
    action: 'This will not fix itself on retry; tell the site operator.',
  },
  openai_api_unavailable: {
    message: 'OpenAI is busy or unreachable right now.',
    action: 'Try again in a few seconds.',
  },
  audit_unavailable: {
    message: 'The key service could not record the request, so it withheld the key.',
    action: 'Try again shortly.',
  },
  internal_error: {
    message: 'Something went wrong in the key service.',
    action: 'Try again later; if it keeps failing, tell the site operator.',
  },
  not_found: {
    message: 'The key service has no such route.',
    action: "Check the page's key service URL (it ends in /api/client-secret).",
  },
  ephemeral_key_expired: {
    message: 'The voice key expired before the call could start.',
    action: "A new key is fetched automatically; if this keeps happening, check the device's clock.",
  },
  webrtc_connection_failed: {
    message: 'The voice connection could not be set up, or it was lost.',
    action: 'Check your network (a firewall or VPN can block WebRTC), then try again.',
  },
  webrtc_unsupported: {
    message: 'This browser cannot make voice calls (it has no WebRTC).',
    action: 'Use a current browser (Chrome, Edge, Firefox or Safari).',
  },
  websocket_connection_failed: {
    message: 'The voice connection (WebSocket) could not be set up, or it was lost.',
    action: 'Check your network (a proxy can block WebSockets), then try again.',
  },
  realtime_error: {
    message: 'The voice service reported an error.',
    action: 'The session goes on; if the problem persists, tell the site operator.',
  },
  voice_closed: {
    message: 'The voice session was closed.',
    action: 'Start a new voice session to talk again.',
  },
  microphone_access_denied: {
    message: 'The page is not allowed to use the microphone.',
    action: "Allow microphone access for this site (the icon in the address bar), then try again.",
  },
};

/** Codes whose failures are worth retrying after a pause: the service says so with Retry-After. */
export const RETRYABLE_STATUS = new Set([429, 503]);

/**
 * Status -> code, for answers without the service's envelope.
 * @type {Record<number, ErrorCode>}
 */
export const CODE_BY_STATUS = {
  400: 'invalid_session_config',
  401: 'unauthorized',
  403: 'origin_not_allowed',
  404: 'not_found',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  503: 'openai_api_unavailable',
};

/**
 * @typedef {object} EkmintErrorInit
 * @property {ErrorCode} code
 * @property {string} [message]
 * @property {string} [action]
 * @property {string | null} [requestId]
 * @property {number | null} [status] HTTP status of the key service's answer, if any
 * @property {number | null} [retryAfterS] the answer's Retry-After, in seconds
 * @property {unknown} [cause]
 */

export class EkmintError extends Error {
  /** @param {EkmintErrorInit} init */
  constructor({ code, message, action, requestId = null, status = null, retryAfterS = null, cause }) {
    const text = ERROR_TEXT[code] ?? ERROR_TEXT.internal_error;
    super(message || text.message, cause === undefined ? undefined : { cause });
    this.name = 'EkmintError';
    /** @type {ErrorCode} */
    this.code = code;
    this.action = action || text.action;
    this.requestId = requestId;
    this.status = status;
    this.retryAfterS = retryAfterS;
  }

  /** @param {Partial<EkmintErrorInit>} changes */
  with(changes) {
    return new EkmintError({
      code: this.code,
      message: this.message,
      action: this.action,
      requestId: this.requestId,
      status: this.status,
      retryAfterS: this.retryAfterS,
      cause: this.cause,
      ...changes,
    });
  }

  toJSON() {
    return { code: this.code, message: this.message, action: this.action, request_id: this.requestId };
  }
}

/**
 * @param {ErrorCode} code
 * @param {unknown} [cause]
 * @param {string} [message]
 */
export function browserError(code, cause, message) {
  return new EkmintError({ code, cause, message });
}

/**
 * The error for a non-2xx answer of the key service.
 * @param {number} status
 * @param {unknown} body the parsed JSON body, or null
 * @param {{ get(name: string): string | null }} headers
 */
export function errorFromAnswer(status, body, headers) {
  const envelope = isObject(body) && isObject(body.error) ? body.error : null;
  const known = envelope && typeof envelope.code === 'string' && envelope.code in ERROR_TEXT;
  /** @type {ErrorCode} */
  const code = known
    ? /** @type {ErrorCode} */ (envelope.code)
    : CODE_BY_STATUS[status] ?? 'internal_error';
  return new EkmintError({
    code,
    message: known ? stringOr(envelope.message) : undefined,
    action: known ? stringOr(envelope.action) : undefined,
    requestId: (known ? stringOr(envelope.request_id) : undefined) ?? headers.get('x-request-id'),
    status,
    retryAfterS: retryAfterSeconds(headers.get('retry-after')),
  });
}

/**
 * Retry-After in seconds; the HTTP-date form is legal too, though the service sends seconds.
 * @param {string | null} value
 * @param {number} [nowMs]
 * @returns {number | null}
 */
export function retryAfterSeconds(value, nowMs = Date.now()) {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, (date - nowMs) / 1000);
}

/**
 * @param {unknown} value
 * @returns {value is Record<string, any>}
 */
function isObject(value) {
  return typeof value === 'object' && value !== null;
}

/** @param {unknown} value */
function stringOr(value) {
  return typeof value === 'string' && value ? value : undefined;
}
