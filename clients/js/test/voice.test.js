// @ts-check
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createKeySource } from '../src/client-secret.js';
import { EkmintError } from '../src/errors.js';
import { createEkmintClient } from '../src/index.js';
import { sendOnlyExplicitSettings } from '../src/session-settings.js';
import { RELAY_NO_TOKEN, connectVoice, relayError } from '../src/voice.js';
import { fakeClock, fakeMicrophone, fakeSdk, minted, nextEvent, record, scriptedFetch } from './fakes.js';

const refused = (/** @type {number} */ status) => ({
  fail: new Error(`Realtime call request failed with status ${status}: refused`),
});

/**
 * A voice session over fakes: the key service, the SDK, the microphone, the clock.
 * @param {{
 *   outcomes?: import('./fakes.js').CallOutcome[],
 *   mint?: import('./fakes.js').Step[],
 *   webrtc?: boolean,
 *   getUserMedia?: () => Promise<MediaStream>,
 *   voice?: Partial<import('../src/voice.js').VoiceOptions>,
 * }} [setup]
 */
function start(setup = {}) {
  const clock = fakeClock();
  const fetch = scriptedFetch(setup.mint ?? [() => minted(clock.now())]);
  const keySource = createKeySource({ url: 'https://api.example.test/api/client-secret', fetch, now: clock.now, sleep: clock.sleep });
  const fake = fakeSdk(setup.outcomes);
  const microphone = fakeMicrophone();
  let micRequests = 0;
  const voice = connectVoice({
    keySource,
    webrtc: setup.webrtc ?? true,
    loadSdk: async () => fake.sdk,
    getUserMedia:
      setup.getUserMedia ??
      (async () => {
        micRequests += 1;
        return microphone.stream;
      }),
    sleep: clock.sleep,
    now: clock.now,
    realtimeUrl: 'http://127.0.0.1:9999/v1/realtime/calls',
    ...setup.voice,
  });
  const events = record(voice, ['statechange', 'key', 'session', 'retry', 'error']);
  const states = () => events.filter(([type]) => type === 'statechange').map(([, d]) => d.state);
  return { voice, fake, fetch, clock, events, states, microphone, micRequests: () => micRequests };
}

/** @param {import('../src/voice.js').VoiceConnection} voice */
const settled = (voice) => Promise.race([nextEvent(voice, 'error'), nextEvent(voice, 'statechange', (d) => d.state === 'connected')]);

describe('connectVoice', () => {
  it('goes connecting -> connected and passes on the server session', async () => {
    const { voice, events, states, fake } = start();
    await voice.ready;
    assert.deepEqual(states(), ['connecting', 'connected']);
    const session = events.find(([type]) => type === 'session');
    assert.equal(session?.[1].type, 'session.created');
    assert.equal(session?.[1].session.instructions, 'minted');
    assert.equal(fake.transports[0].kind, 'webrtc');
  });

  it('connects with the key, the minted model and the configured calls URL', async () => {
    const { voice, fake, fetch } = start();
    await voice.ready;
    const [session] = fake.sessions;
    assert.equal(fetch.calls.length, 1);
    assert.match(session.connectOptions.apiKey, /^ek_/);
    assert.equal(session.connectOptions.url, 'http://127.0.0.1:9999/v1/realtime/calls');
    assert.equal(session.options.model, 'gpt-realtime');
  });

  it('never sends the key in an event', async () => {
    const { voice, events, fake } = start();
    await voice.ready;
    const key = fake.sessions[0].connectOptions.apiKey;
    assert.doesNotMatch(JSON.stringify(events), new RegExp(key));
  });

  it('gives the agent no instructions of its own unless the page does (lifecycle.test.js: bug 3)', async () => {
    const { voice, fake } = start();
    await voice.ready;
    assert.equal('instructions' in fake.sessions[0].agent.config, false);
  });

  it('sends the page’s own instructions when it gives some', async () => {
    const { voice, fake } = start({ voice: { instructions: 'Speak like a pirate.' } });
    await voice.ready;
    assert.equal(fake.sessions[0].agent.config.instructions, 'Speak like a pirate.');
  });

  it('passes its own microphone stream, so reconnects do not ask again', async () => {
    const { voice, fake, microphone, micRequests } = start({ outcomes: ['ok'] });
    await voice.ready;
    fake.transports[0].hangUp();
    await nextEvent(voice, 'statechange', (d) => d.state === 'connected');
    assert.equal(micRequests(), 1);
    assert.equal(fake.transports[1].options.mediaStream, microphone.stream);
    assert.equal(fake.transports[0].options.baseUrl, 'http://127.0.0.1:9999/v1/realtime/calls');
  });
});

describe('reconnecting', () => {
  it('recovers a dropped connection with a new key', async () => {
    const { voice, fake, fetch, states, clock } = start();
    await voice.ready;
    fake.transports[0].hangUp();
    await nextEvent(voice, 'statechange', (d) => d.state === 'connected');
    assert.deepEqual(states(), ['connecting', 'connected', 'disconnected', 'connecting', 'connected']);
    assert.equal(fetch.calls.length, 2);
    assert.notEqual(fake.sessions[0].connectOptions.apiKey, fake.sessions[1].connectOptions.apiKey);
    assert.deepEqual(clock.sleeps, [1000]);
    assert.ok(fake.sessions[0].closed);
  });

  it('waits 1 s, 2 s, 4 s between attempts, then succeeds', async () => {
    const { voice, fake, clock, events } = start({ outcomes: ['ok', refused(500), refused(500), 'ok'] });
    await voice.ready;
    fake.transports[0].hangUp();
    await nextEvent(voice, 'statechange', (d) => d.state === 'connected');
    // Written out, not imported from src/timing.js: the schedule docs/frontend.md promises.
    assert.deepEqual(clock.sleeps, [1000, 2000, 4000]);
    const retries = events.filter(([type]) => type === 'retry').map(([, d]) => [d.attempt, d.delayMs, d.error.code]);
    assert.deepEqual(retries, [
      [1, 1000, 'webrtc_connection_failed'],
      [2, 2000, 'webrtc_connection_failed'],
      [3, 4000, 'webrtc_connection_failed'],
    ]);
  });

  it('starts the schedule again after a reconnected call stayed up', async () => {
    const { voice, fake, clock } = start();
    await voice.ready;
    fake.transports[0].hangUp();
    await nextEvent(voice, 'statechange', (d) => d.state === 'connected');
    clock.advance(30_000);
    fake.transports[1].hangUp();
    await nextEvent(voice, 'statechange', (d) => d.state === 'connected');
    assert.deepEqual(clock.sleeps, [1000, 1000]);
  });

  it('ends as webrtc_connection_failed when every call is refused', async () => {
    const { voice, states, clock, fetch, microphone } = start({ outcomes: [refused(500)] });
    const { error } = /** @type {any} */ (await nextEvent(voice, 'error'));
    assert.ok(error instanceof EkmintError);
    assert.equal(error.code, 'webrtc_connection_failed');
    assert.equal(error.message, 'The voice connection could not be set up, or it was lost.');
    assert.match(error.action, /then try again/);
    assert.deepEqual(clock.sleeps, [1000, 2000, 4000]);
    assert.equal(fetch.calls.length, 4);
    assert.equal(states().at(-1), 'failed');
    assert.ok(microphone.track.stopped);
    await assert.rejects(voice.ready, { code: 'webrtc_connection_failed' });
  });

  it('replaces a key the server calls expired (401) and connects', async () => {
    const { voice, fake, events, fetch } = start({ outcomes: [refused(401), 'ok'] });
    await voice.ready;
    const [[, retry]] = events.filter(([type]) => type === 'retry');
    assert.equal(retry.error.code, 'ephemeral_key_expired');
    assert.equal(retry.error.message, 'The voice key expired before the call could start.');
    assert.equal(fetch.calls.length, 2);
    assert.notEqual(fake.sessions[0].connectOptions.apiKey, fake.sessions[1].connectOptions.apiKey);
  });

  it('ends as ephemeral_key_expired when every new key is refused as expired', async () => {
    const { voice } = start({ outcomes: [refused(401)] });
    const { error } = /** @type {any} */ (await nextEvent(voice, 'error'));
    assert.equal(error.code, 'ephemeral_key_expired');
  });

  it('treats a connect that never finishes as a failed connection', async () => {
    const { voice, fake, events } = start({ voice: { connectTimeoutMs: 5 } });
    // Every connect hangs (replaced before the microtask that starts the session runs).
    fake.sdk.RealtimeSession.prototype.connect = () => new Promise(() => {});
    const { error } = /** @type {any} */ (await nextEvent(voice, 'error'));
    assert.equal(error.code, 'webrtc_connection_failed');
    assert.equal(events.filter(([type]) => type === 'retry')[0][1].error.message, 'The voice connection timed out.');
  });

  it('gives up at once when the key service refuses (no reconnect can fix a 403)', async () => {
    const denied = { status: 403, body: { error: { code: 'origin_not_allowed', message: 'Origin not allowed.', action: 'Add it.' } } };
    const { voice, fake, clock } = start({ mint: [denied] });
    const { error } = /** @type {any} */ (await nextEvent(voice, 'error'));
    assert.equal(error.code, 'origin_not_allowed');
    assert.equal(fake.sessions.length, 0);
    assert.deepEqual(clock.sleeps, []);
  });

  it('does not reconnect after the page closes the session', async () => {
    const { voice, fake, states, microphone } = start();
    await voice.ready;
    voice.close();
    fake.transports[0].hangUp();
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(states(), ['connecting', 'connected', 'disconnected']);
    assert.equal(fake.sessions.length, 1);
    assert.ok(fake.sessions[0].closed);
    assert.ok(microphone.track.stopped);
  });
});

describe('microphone', () => {
  /** @param {string} name */
  const domError = (name) => Object.assign(new Error(`${name} from getUserMedia`), { name });

  it('reports a denied microphone as microphone_access_denied, before spending a key', async () => {
    const { voice, fetch, states } = start({ getUserMedia: () => Promise.reject(domError('NotAllowedError')) });
    const { error } = /** @type {any} */ (await nextEvent(voice, 'error'));
    assert.equal(error.code, 'microphone_access_denied');
    assert.equal(error.message, 'The page is not allowed to use the microphone.');
    assert.match(error.action, /Allow microphone access/);
    assert.equal(fetch.calls.length, 0);
    assert.deepEqual(states(), ['failed']);
  });

  it('says so when there is no microphone at all', async () => {
    const { voice } = start({ getUserMedia: () => Promise.reject(domError('NotFoundError')) });
    const { error } = /** @type {any} */ (await nextEvent(voice, 'error'));
    assert.equal(error.code, 'microphone_access_denied');
    assert.equal(error.message, 'No microphone was found.');
  });

  it('says so when the browser has no microphone API (not a secure context)', async () => {
    // Node has no navigator.mediaDevices, as a browser page on plain http:// has none.
    assert.equal(/** @type {any} */ (globalThis).navigator?.mediaDevices, undefined);
    const clock = fakeClock();
    const fetch = scriptedFetch([() => minted(clock.now())]);
    const keySource = createKeySource({ url: 'https://x.test/api/client-secret', fetch, now: clock.now });
    const fake = fakeSdk();
    const voice = connectVoice({ keySource, webrtc: true, getUserMedia: undefined, loadSdk: async () => fake.sdk });
    const { error } = /** @type {any} */ (await settled(voice));
    assert.equal(error.code, 'microphone_access_denied');
    assert.match(error.message, /HTTPS/);
    assert.equal(fetch.calls.length, 0);
  });
});

describe('the SDK', () => {
  it('says so when it cannot be loaded (a missing import map or bundle)', async () => {
    const { voice, fetch } = start({ voice: { loadSdk: () => Promise.reject(new TypeError('Failed to resolve module specifier')) } });
    const { error } = /** @type {any} */ (await nextEvent(voice, 'error'));
    assert.equal(error.code, 'internal_error');
    assert.match(error.message, /voice library/);
    assert.match(error.action, /import map/);
    assert.equal(fetch.calls.length, 0);
  });
});

describe('WebSocket (opt-in)', () => {
  it('uses the WebSocket transport where WebRTC is missing, without the microphone', async () => {
    const { voice, fake, micRequests, states } = start({ webrtc: false, voice: { websocketUrl: 'ws://127.0.0.1:9/v1/realtime' } });
    await voice.ready;
    assert.equal(voice.transport, 'websocket');
    assert.equal(fake.transports[0].kind, 'websocket');
    assert.equal(micRequests(), 0);
    assert.equal(fake.sessions[0].connectOptions.url, 'ws://127.0.0.1:9/v1/realtime');
    assert.deepEqual(states(), ['connecting', 'connected']);
  });

  it('falls back by itself, when the page allows it, only where RTCPeerConnection is missing', async () => {
    const clock = fakeClock();
    const keySource = createKeySource({ url: 'https://x.test/api/client-secret', fetch: scriptedFetch([() => minted(clock.now())]), now: clock.now });
    const fake = fakeSdk();
    const voice = connectVoice({ keySource, websocketFallback: true, loadSdk: async () => fake.sdk });
    assert.equal(typeof globalThis.RTCPeerConnection, 'undefined');
    assert.equal(voice.transport, 'websocket');
    await voice.ready;
    voice.close();
  });

  it('reconnects a dropped WebSocket session the same way', async () => {
    const { voice, fake, clock } = start({ webrtc: false });
    await voice.ready;
    fake.transports[0].emit('connection_change', 'disconnected');
    await nextEvent(voice, 'statechange', (d) => d.state === 'connected');
    assert.deepEqual(clock.sleeps, [1000]);
    assert.equal(fake.transports[1].kind, 'websocket');
  });
});

describe('relayed (via: relay)', () => {
  const relay = (/** @type {Partial<import('../src/voice.js').VoiceOptions>} */ extra = {}) => ({
    voice: /** @type {Partial<import('../src/voice.js').VoiceOptions>} */ ({
      via: 'relay',
      relayUrl: 'https://api.example.test/api/realtime/calls',
      ...extra,
    }),
  });

  it('posts the offer to ekmint with no key: no key request, no key event', async () => {
    const { voice, fake, fetch, events } = start(relay({ relaySession: { voice: 'coral' } }));
    await voice.ready;
    assert.equal(fetch.calls.length, 0);
    assert.equal(events.filter(([type]) => type === 'key').length, 0);
    const [session] = fake.sessions;
    assert.equal(session.connectOptions.url, 'https://api.example.test/api/realtime/calls?voice=coral');
    assert.equal(session.connectOptions.apiKey, RELAY_NO_TOKEN);
    // The SDK would refuse a non-ek_ value in a browser without this.
    assert.equal(fake.transports[0].options.useInsecureApiKey, true);
    assert.equal(voice.via, 'relay');
    assert.equal(voice.transport, 'webrtc');
  });

  it("sends the page's sign-in token, asked for on every connect", async () => {
    let n = 0;
    const { voice, fake } = start(relay({ getAuthToken: () => `token-${++n}` }));
    await voice.ready;
    fake.transports[0].hangUp();
    await nextEvent(voice, 'statechange', (d) => d.state === 'connected');
    assert.deepEqual(fake.sessions.map((s) => s.connectOptions.apiKey), ['token-1', 'token-2']);
  });

  it('reconnects a dropped call with a new relayed call, on the same schedule', async () => {
    const { voice, fake, states, clock } = start(relay());
    await voice.ready;
    fake.transports[0].hangUp();
    await nextEvent(voice, 'statechange', (d) => d.state === 'connected');
    assert.deepEqual(states(), ['connecting', 'connected', 'disconnected', 'connecting', 'connected']);
    assert.deepEqual(clock.sleeps, [1000]);
    assert.equal(fake.sessions.length, 2);
  });

  it('maps ekmint refusals to their codes and keeps the message', async () => {
    const cases = [
      [403, "origin 'x' is not allowed to mint keys", 'origin_not_allowed'],
      [401, 'this service requires a signed-in caller', 'unauthorized'],
      [400, "session.audio.output.voice: 'robot' is not allowed", 'invalid_session_config'],
      [400, "the body is not an SDP offer (it must start with 'v=0')", 'invalid_offer'],
      [502, 'OpenAI refused the request (HTTP 400).', 'token_generation_failed'],
      [503, 'The call could not be recorded, so it was withheld.', 'audit_unavailable'],
    ];
    for (const [status, message, code] of cases) {
      const error = relayError(new Error(`Realtime call request failed with status ${status}: ${message}`));
      assert.deepEqual([error.code, error.message, error.status], [code, message, status]);
    }
    assert.equal(relayError(new Error('ICE failed')).code, 'webrtc_connection_failed');
  });

  it('gives up at once on a refusal no reconnect can fix', async () => {
    const { voice, fake } = start({
      ...relay(),
      outcomes: [{ fail: new Error("Realtime call request failed with status 403: origin 'x' is not allowed") }],
    });
    await assert.rejects(voice.ready, (error) => error instanceof EkmintError && error.code === 'origin_not_allowed');
    assert.equal(fake.sessions.length, 1);
  });

  it('waits out a busy service during a reconnect on the schedule (the SDK hides Retry-After)', async () => {
    const busy = { fail: new Error('Realtime call request failed with status 429: Too many calls') };
    const { voice, fake, clock } = start({ ...relay(), outcomes: ['ok', busy, 'ok'] });
    await voice.ready;
    fake.transports[0].hangUp();
    await nextEvent(voice, 'statechange', (d) => d.state === 'connected');
    assert.deepEqual(clock.sleeps, [1000, 2000]);
  });

  it('needs a relayUrl and WebRTC', () => {
    assert.throws(() => connectVoice({ keySource: /** @type {any} */ ({}), via: 'relay' }), /relayUrl/);
    assert.throws(
      () => connectVoice({ keySource: /** @type {any} */ ({}), via: 'relay', relayUrl: '/x', webrtc: false }),
      /WebRTC/,
    );
  });
});

describe('createEkmintClient relay defaults', () => {
  it('derives the calls route, token and session from the key options', async () => {
    const fake = fakeSdk();
    const ekmint = createEkmintClient({
      url: 'https://api.example.test/api/client-secret',
      getAuthToken: () => 'jwt-1',
      request: { session: { model: 'gpt-realtime', audio: { output: { voice: 'cedar' } } } },
    });
    const voice = ekmint.connectVoice({
      via: 'relay',
      loadSdk: async () => fake.sdk,
      getUserMedia: async () => fakeMicrophone().stream,
      webrtc: true,
    });
    await voice.ready;
    const { url, apiKey } = fake.sessions[0].connectOptions;
    assert.equal(url, 'https://api.example.test/api/realtime/calls?model=gpt-realtime&voice=cedar');
    assert.equal(apiKey, 'jwt-1');
    voice.close();
  });
});

describe('session.update of a relayed call', () => {
  it('never names a model: the call’s was fixed by ekmint when it was created', () => {
    const build = (/** @type {any} */ c) => ({ type: 'realtime', model: c.model ?? 'gpt-realtime-2.1', instructions: '' });
    const transport = { _getMergedSessionConfig: build };
    assert.equal(sendOnlyExplicitSettings(transport, {}, { fixedModel: true }), true);
    assert.equal('model' in transport._getMergedSessionConfig({}), false);
    const minted = { _getMergedSessionConfig: build };
    sendOnlyExplicitSettings(minted, {});
    assert.equal(minted._getMergedSessionConfig({ model: 'gpt-realtime' }).model, 'gpt-realtime');
  });
});
