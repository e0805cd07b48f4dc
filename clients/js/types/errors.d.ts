/**
 * Every failure the client reports is an `EkmintError` with one of these codes: the service's
 * own (docs/design.md, "The service's own contract") or the browser-side ones. Each has a
 * message a person understands and the action to take, so a page can show `message` and `action`
 * as they are.
 */
export type ErrorCode = 'invalid_session_config' | 'invalid_offer' | 'unauthorized' | 'origin_not_allowed' | 'payload_too_large' | 'unsupported_media_type' | 'rate_limited' | 'token_generation_failed' | 'openai_api_unavailable' | 'audit_unavailable' | 'internal_error' | 'not_found' | 'ephemeral_key_expired' | 'webrtc_connection_failed' | 'microphone_access_denied' | 'webrtc_unsupported' | 'websocket_connection_failed' | 'realtime_error' | 'voice_closed';
export type ErrorText = {
    message: string;
    action: string;
};
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
export declare const ERROR_TEXT: Record<ErrorCode, ErrorText>;
/** Codes whose failures are worth retrying after a pause: the service says so with Retry-After. */
export declare const RETRYABLE_STATUS: Set<number>;
/**
 * Status -> code, for answers without the service's envelope.
 * @type {Record<number, ErrorCode>}
 */
export declare const CODE_BY_STATUS: Record<number, ErrorCode>;
export type EkmintErrorInit = {
    code: ErrorCode;
    message?: string;
    action?: string;
    requestId?: string | null;
    /**
     * HTTP status of the key service's answer, if any
     */
    status?: number | null;
    /**
     * the answer's Retry-After, in seconds
     */
    retryAfterS?: number | null;
    cause?: unknown;
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
export declare class EkmintError extends Error {
    /** @type {ErrorCode} */
    code: ErrorCode;
    action: string;
    requestId: string | null;
    status: number | null;
    retryAfterS: number | null;
    /** @param {EkmintErrorInit} init */
    constructor({ code, message, action, requestId, status, retryAfterS, cause }: EkmintErrorInit);
    /** @param {Partial<EkmintErrorInit>} changes */
    with(changes: Partial<EkmintErrorInit>): EkmintError;
    toJSON(): {
        code: ErrorCode;
        message: string;
        action: string;
        request_id: string | null;
    };
}
/**
 * @param {ErrorCode} code
 * @param {unknown} [cause]
 * @param {string} [message]
 */
export declare function browserError(code: ErrorCode, cause?: unknown, message?: string): EkmintError;
/**
 * The error for a non-2xx answer of the key service.
 * @param {number} status
 * @param {unknown} body the parsed JSON body, or null
 * @param {{ get(name: string): string | null }} headers
 */
export declare function errorFromAnswer(status: number, body: unknown, headers: {
    get(name: string): string | null;
}): EkmintError;
/**
 * Retry-After in seconds; the HTTP-date form is legal too, though the service sends seconds.
 * @param {string | null} value
 * @param {number} [nowMs]
 * @returns {number | null}
 */
export declare function retryAfterSeconds(value: string | null, nowMs?: number): number | null;
