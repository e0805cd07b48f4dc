// @ts-check
/**
 * ekmint's browser client: short-lived OpenAI Realtime keys from an ekmint service, and a voice
 * session that gets new ones by itself.
 *
 *   import { createEkmintClient } from '@ekmint/client';
 *   const ekmint = createEkmintClient({ url: 'https://api.example.com/api/client-secret' });
 *   const voice = ekmint.connectVoice();
 *   voice.addEventListener('statechange', (e) => console.log(e.detail.state));
 *   voice.addEventListener('error', (e) => show(e.detail.error.message, e.detail.error.action));
 *
 * Its only dependency is @openai/agents-realtime (a peer dependency: the page's own copy),
 * loaded when voice starts.
 */
import { createKeySource } from './client-secret.js';
import { connectVoice } from './voice.js';

/**
 * @typedef {import('./client-secret.js').KeySourceOptions & {
 *   voice?: Omit<import('./voice.js').VoiceOptions, 'keySource'>
 * }} EkmintClientOptions
 */

/**
 * @param {EkmintClientOptions} options the key service (`url`, `getAuthToken`, `request`, …)
 *   and defaults for every voice session (`voice: { realtimeUrl, instructions, … }`)
 */
export function createEkmintClient(options) {
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
    connectVoice: (voiceOptions = {}) =>
      connectVoice({ ...relayDefaults, ...voiceDefaults, ...voiceOptions, keySource }),
  };
}

/**
 * For `via: 'relay'`: ekmint's calls route beside its key route, the same sign-in token, and
 * the model and voice the key request would ask for.
 * @param {import('./client-secret.js').KeySourceOptions} keyOptions
 */
function relayOptions({ url, getAuthToken, request }) {
  const session = /** @type {any} */ (request)?.session ?? {};
  const model = typeof session.model === 'string' ? session.model : undefined;
  const voice = session.audio?.output?.voice;
  const relayUrl = /\/api\/client-secret\/?$/.test(url) ? url.replace(/\/api\/client-secret\/?$/, '/api/realtime/calls') : undefined;
  return {
    ...(relayUrl ? { relayUrl } : {}),
    ...(getAuthToken ? { getAuthToken } : {}),
    relaySession: { ...(model ? { model } : {}), ...(typeof voice === 'string' ? { voice } : {}) },
  };
}

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
