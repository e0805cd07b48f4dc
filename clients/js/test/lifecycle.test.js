// @ts-check
/**
 * Issue 15's bugs, one `describe` each: what a page building on the client met, reproduced
 * with the fakes (the key service, the SDK, the microphone, the clock).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createKeySource } from '../src/client-secret.js';
import { EkmintError } from '../src/errors.js';
import { connectVoice } from '../src/voice.js';
import { fakeClock, fakeMicrophone, fakeSdk, minted, nextEvent, record, scriptedFetch } from './fakes.js';

/** @returns {{ promise: Promise<any>, resolve: (value?: any) => void }} */
function deferred() {
  /** @type {(value?: any) => void} */
  let resolve = () => {};
  const promise = new Promise((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

/**
 * @param {{
 *   outcomes?: import('./fakes.js').CallOutcome[],
 *   mint?: import('./fakes.js').Step[],
 *   getUserMedia?: () => Promise<MediaStream>,
 *   loadSdk?: () => Promise<any>,
 *   voice?: Record<string, unknown>,
 * }} [setup]
 */
function start(setup = {}) {
  const clock = fakeClock();
  const fetch = scriptedFetch(setup.mint ?? [() => minted(clock.now())]);
  const keySource = createKeySource({ url: 'https://api.example.test/api/client-secret', fetch, now: clock.now, sleep: clock.sleep });
  const fake = fakeSdk(setup.outcomes);
  const microphones = [fakeMicrophone()];
  const voice = connectVoice({
    keySource,
    webrtc: true,
    loadSdk: setup.loadSdk ?? (async () => fake.sdk),
    getUserMedia:
      setup.getUserMedia ??
      (async () => {
        if (microphones.at(-1)?.track.used) microphones.push(fakeMicrophone());
        const microphone = /** @type {ReturnType<typeof fakeMicrophone>} */ (microphones.at(-1));
        microphone.track.used = true;
        return microphone.stream;
      }),
    sleep: clock.sleep,
    now: clock.now,
    ...setup.voice,
  });
  const events = record(voice, ['statechange', 'key', 'session', 'retry', 'error', 'sessionstart', 'realtimeerror']);
  const states = () => events.filter(([type]) => type === 'statechange').map(([, d]) => d.state);
  return { voice, fake, fetch, clock, events, states, microphones };
}

describe('bug 1: close() before the call connects', () => {
  it('while the SDK loads: no state change after close, no key, no microphone', async () => {
    const sdkLoaded = deferred();
    const fake = fakeSdk();
    const { voice, states, fetch, microphones } = start({ loadSdk: () => sdkLoaded.promise });
    await tick();
    voice.close();
    sdkLoaded.resolve(fake.sdk);
    await tick();
    assert.deepEqual(states(), ['disconnected']);
    assert.equal(voice.state, 'disconnected');
    assert.equal(fetch.calls.length, 0);
    assert.equal(microphones[0].track.used, undefined, 'no microphone asked for after close()');
  });

  it('during the permission prompt: the stream granted afterwards is stopped at once', async () => {
    const granted = deferred();
    const microphone = fakeMicrophone();
    const { voice, states, fetch } = start({ getUserMedia: () => granted.promise });
    await tick();
    voice.close();
    granted.resolve(microphone.stream);
    await tick();
    assert.ok(microphone.track.stopped, 'the late stream must be stopped');
    assert.deepEqual(states(), ['disconnected']);
    assert.equal(fetch.calls.length, 0);
  });
});

describe('bug 2: one caller abandoning its key request', () => {
  it("does not abort the other callers' shared request", async () => {
    const answer = deferred();
    /** @type {RequestInit[]} */
    const requests = [];
    /** @type {typeof fetch} */
    const fetchFn = async (_url, init = {}) => {
      requests.push(init);
      const signal = init.signal;
      return new Promise((resolve, reject) => {
        signal?.addEventListener('abort', () => reject(signal.reason));
        answer.promise.then(() => resolve(new Response(JSON.stringify(minted(Date.now()).body), { status: 200 })));
      });
    };
    const keys = createKeySource({ url: 'https://api.example.test/api/client-secret', fetch: fetchFn });
    const first = new AbortController();
    const firstWait = keys.getClientSecret({ signal: first.signal });
    const secondWait = keys.getClientSecret({ signal: new AbortController().signal });
    first.abort(new Error('unmounted'));
    answer.resolve();
    await assert.rejects(firstWait, /unmounted/);
    const key = await secondWait;
    assert.match(key.value, /^ek_/);
    assert.equal(requests.length, 1, 'still one request for both callers');
  });

  // A guard for the fix, not a failure of the old code: the request must still end when nobody waits.
  it('abandons the request when every caller has left', async () => {
    /** @type {AbortSignal | undefined} */
    let seen;
    /** @type {typeof fetch} */
    const fetchFn = (_url, init = {}) => {
      seen = init.signal ?? undefined;
      return new Promise((_, reject) => {
        if (init.signal?.aborted) reject(init.signal.reason);
        init.signal?.addEventListener('abort', () => reject(init.signal?.reason));
      });
    };
    const keys = createKeySource({ url: 'https://api.example.test/api/client-secret', fetch: fetchFn });
    const only = new AbortController();
    const wait = keys.getClientSecret({ signal: only.signal });
    only.abort(new Error('gone'));
    await assert.rejects(wait, /gone/);
    assert.equal(seen?.aborted, true);
  });
});

describe("bug 3: the client sends only the page's own session settings", () => {
  it('sends no turn_detection, transcription, noise_reduction, speed, output_modalities or instructions of its own', async () => {
    const { realSdkSession } = await import('./real-sdk.js');
    const { sent, close } = await realSdkSession({});
    const update = sent.find((event) => event.type === 'session.update');
    assert.ok(update, 'the SDK sends a session.update');
    const session = update.session;
    assert.equal(session.output_modalities, undefined);
    assert.equal(session.instructions, undefined);
    assert.equal(session.audio?.input?.turn_detection, undefined);
    assert.equal(session.audio?.input?.transcription, undefined);
    assert.equal(session.audio?.input?.noise_reduction, undefined);
    assert.equal(session.audio?.output?.speed, undefined);
    close();
  });

  it('sends what the page set explicitly', async () => {
    const { realSdkSession } = await import('./real-sdk.js');
    const config = { audio: { input: { turnDetection: { type: 'server_vad' }, noiseReduction: null } } };
    const { sent, close } = await realSdkSession({ sessionOptions: { config }, instructions: 'Be brief.' });
    const update = sent.find((event) => event.type === 'session.update');
    assert.equal(update.session.instructions, 'Be brief.');
    assert.equal(update.session.audio.input.turn_detection.type, 'server_vad');
    assert.equal(update.session.audio.input.noise_reduction, null);
    assert.equal(update.session.audio.input.transcription, undefined);
    close();
  });
});

describe('bug 4: a reconnect replaces the SDK session', () => {
  it("emits sessionstart with every new session, and the old session's history", async () => {
    const { voice, fake, events } = start();
    await voice.ready;
    fake.sessions[0].history = [{ type: 'message', role: 'user' }];
    fake.transports[0].hangUp();
    await nextEvent(voice, 'statechange', (d) => d.state === 'connected');
    const starts = events.filter(([type]) => type === 'sessionstart').map(([, d]) => d);
    assert.equal(starts.length, 2);
    assert.equal(starts[0].session, fake.sessions[0]);
    assert.equal(starts[0].reconnect, false);
    assert.equal(starts[1].session, fake.sessions[1]);
    assert.equal(starts[1].reconnect, true);
    assert.deepEqual(starts[1].previousHistory, [{ type: 'message', role: 'user' }]);
    assert.equal(voice.session, fake.sessions[1]);
  });

  it('keeps mute on the connection: a new session starts muted if the last one was', async () => {
    const { voice, fake } = start();
    await voice.ready;
    voice.mute(true);
    assert.equal(fake.sessions[0].muted, true);
    fake.transports[0].hangUp();
    await nextEvent(voice, 'statechange', (d) => d.state === 'connected');
    assert.equal(voice.muted, true);
    assert.equal(fake.sessions[1].muted, true);
  });

  it('keeps a mute the page set on the SDK session directly', async () => {
    const { voice, fake } = start();
    await voice.ready;
    fake.sessions[0].mute(true);
    fake.transports[0].hangUp();
    await nextEvent(voice, 'statechange', (d) => d.state === 'connected');
    assert.equal(fake.sessions[1].muted, true);
  });
});

describe('bug 5: calls that drop as soon as they connect', () => {
  it('do not reset the reconnect schedule; the session gives up instead of spending keys', async () => {
    let mints = 0;
    const clock = fakeClock();
    const mint = () => {
      mints += 1;
      // A safety net for the old code, which never stops: refuse after 20 keys.
      if (mints > 20) return { status: 403, body: { error: { code: 'origin_not_allowed', message: 'stop' } } };
      return minted(clock.now());
    };
    const fake = fakeSdk(['ok']);
    // Every call is dropped by the server right after it connects.
    const connect = fake.sdk.RealtimeSession.prototype.connect;
    fake.sdk.RealtimeSession.prototype.connect = async function (/** @type {any} */ options) {
      await connect.call(this, options);
      setTimeout(() => this.transport.hangUp(), 0);
    };
    const keySource = createKeySource({ url: 'https://x.test/api/client-secret', fetch: scriptedFetch([mint]), now: clock.now, sleep: clock.sleep });
    const microphone = fakeMicrophone();
    const voice = connectVoice({ keySource, webrtc: true, loadSdk: async () => fake.sdk, getUserMedia: async () => microphone.stream, sleep: clock.sleep, now: clock.now });
    const { error } = /** @type {any} */ (await nextEvent(voice, 'error'));
    assert.equal(error.code, 'webrtc_connection_failed');
    assert.ok(mints <= 4, `spent ${mints} keys on calls that never stayed up`);
    assert.deepEqual(clock.sleeps, [1000, 2000, 4000]);
  });

  it('resets the schedule after a call stayed up for a while', async () => {
    const { voice, fake, clock } = start();
    await voice.ready;
    fake.transports[0].hangUp();
    await nextEvent(voice, 'statechange', (d) => d.state === 'connected');
    clock.advance(60_000);
    fake.transports[1].hangUp();
    await nextEvent(voice, 'statechange', (d) => d.state === 'connected');
    assert.deepEqual(clock.sleeps, [1000, 1000]);
  });

  it('caps the keys spent per minute of reconnecting', async () => {
    const { voice, fake, clock, fetch } = start({ voice: { stableAfterMs: 0, maxReconnectKeysPerMinute: 3 } });
    await voice.ready;
    for (let drop = 0; drop < 3; drop += 1) {
      fake.transports.at(-1).hangUp();
      await nextEvent(voice, 'statechange', (d) => d.state === 'connected');
    }
    fake.transports.at(-1).hangUp();
    const { error } = /** @type {any} */ (await nextEvent(voice, 'error'));
    assert.equal(error.code, 'webrtc_connection_failed');
    assert.match(error.message, /3 reconnects within a minute/);
    assert.equal(fetch.calls.length, 4);
    assert.ok(clock.sleeps.length <= 4);
  });
});

describe('bug 6: a 429 with a long Retry-After during a reconnect', () => {
  it('waits it out and reconnects, and says how long it waits', async () => {
    const clock = fakeClock();
    const busy = { status: 429, headers: { 'retry-after': '45' }, body: { error: { code: 'rate_limited', message: 'Slow down.', action: 'Wait.' } } };
    const { voice, fake, events } = start({ mint: [() => minted(clock.now()), busy, () => minted(clock.now())] });
    await voice.ready;
    fake.transports[0].hangUp();
    const outcome = await Promise.race([
      nextEvent(voice, 'statechange', (d) => d.state === 'connected').then(() => 'connected'),
      nextEvent(voice, 'error').then(({ error }) => `failed: ${error.code} ${error.message}`),
    ]);
    assert.equal(outcome, 'connected');
    const retry = events.filter(([type]) => type === 'retry').map(([, d]) => d).find((d) => d.error.code === 'rate_limited');
    assert.ok(retry, 'a retry event for the rate limit');
    assert.equal(retry.delayMs, 45_000);
    assert.match(retry.error.message, /45 s/);
  });

  it('gives up when Retry-After is beyond the stated bound', async () => {
    const clock = fakeClock();
    const busy = { status: 429, headers: { 'retry-after': '3600' }, body: { error: { code: 'rate_limited', message: 'Slow down.' } } };
    const { voice, fake } = start({ mint: [() => minted(clock.now()), busy] });
    await voice.ready;
    fake.transports[0].hangUp();
    const { error } = /** @type {any} */ (await nextEvent(voice, 'error'));
    assert.equal(error.code, 'rate_limited');
  });
});

// Bug 7's fix is on the server (Date in Access-Control-Expose-Headers: tests/unit/test_cors.py,
// and tests/browser/test_examples.py reads it cross-origin in Chromium); this is the client half.
describe('bug 7: clock skew from the Date header', () => {
  it('corrects the expiry by the server clock when Date is readable', async () => {
    const clock = fakeClock();
    // The device clock is 10 minutes slow; the key expires in 300 s by the server's clock.
    const serverNow = clock.now() + 600_000;
    const answer = minted(serverNow);
    const fetch = scriptedFetch([{ ...answer, headers: { date: new Date(serverNow).toUTCString() } }]);
    const keys = createKeySource({ url: 'https://x.test/api/client-secret', fetch, now: clock.now });
    const key = await keys.getClientSecret();
    assert.ok(Math.abs(keys.expiresInMs(key) - 300_000) < 1000, String(keys.expiresInMs(key)));
  });
});

describe('bug 8: errors, transports and the microphone', () => {
  it("forwards the SDK's error events as realtimeerror, without ending the session", async () => {
    const { voice, fake, events } = start();
    await voice.ready;
    fake.sessions[0].emit('error', { type: 'error', error: { type: 'error', error: { message: 'Invalid session.update', code: 'invalid_value' } } });
    const forwarded = events.filter(([type]) => type === 'realtimeerror').map(([, d]) => d.error);
    assert.equal(forwarded.length, 1);
    assert.ok(forwarded[0] instanceof EkmintError);
    assert.equal(forwarded[0].code, 'realtime_error');
    assert.match(forwarded[0].message, /Invalid session.update/);
    assert.equal(voice.state, 'connected');
  });

  it('does not fall back to WebSocket unless the page opts in', async () => {
    const clock = fakeClock();
    const fetch = scriptedFetch([() => minted(clock.now())]);
    const keySource = createKeySource({ url: 'https://x.test/api/client-secret', fetch, now: clock.now });
    const fake = fakeSdk();
    assert.equal(typeof globalThis.RTCPeerConnection, 'undefined');
    const voice = connectVoice({ keySource, loadSdk: async () => fake.sdk });
    const { error } = /** @type {any} */ (await nextEvent(voice, 'error'));
    assert.equal(error.code, 'webrtc_unsupported');
    assert.equal(fetch.calls.length, 0);
    assert.equal(fake.sessions.length, 0);
  });

  it('reports WebSocket failures with their own code when the page opted in', async () => {
    const failed = { fail: new Error('WebSocket closed') };
    const { voice } = start({ outcomes: [failed], voice: { webrtc: undefined, websocketFallback: true } });
    assert.equal(voice.transport, 'websocket');
    const { error } = /** @type {any} */ (await nextEvent(voice, 'error'));
    assert.equal(error.code, 'websocket_connection_failed');
  });

  it('asks for the microphone again when its track ended (device unplugged)', async () => {
    const { voice, fake, microphones } = start();
    await voice.ready;
    microphones[0].track.readyState = 'ended';
    fake.transports[0].hangUp();
    await nextEvent(voice, 'statechange', (d) => d.state === 'connected');
    assert.equal(microphones.length, 2);
    assert.equal(fake.transports[1].options.mediaStream, microphones[1].stream);
  });

  it("does not name the demo page's button in its messages", async () => {
    const { ERROR_TEXT } = await import('../src/errors.js');
    const { voice } = start({ outcomes: [{ fail: new Error('status 500') }] });
    const { error } = /** @type {any} */ (await nextEvent(voice, 'error'));
    assert.doesNotMatch(error.action, /Start voice/);
    assert.doesNotMatch(JSON.stringify(ERROR_TEXT), /Start voice/);
  });

  it('rejects `ready` with an EkmintError when the page closes the session', async () => {
    const { voice } = start();
    voice.close();
    await assert.rejects(voice.ready, (error) => error instanceof EkmintError && error.code === 'voice_closed');
  });
});

describe('webrtc_url', () => {
  it("connects to the mint's webrtc_url when the answer has one", async () => {
    const clock = fakeClock();
    const answer = minted(clock.now());
    const body = { .../** @type {any} */ (answer.body), webrtc_url: 'https://relay.example.test/v1/realtime/calls' };
    const { voice, fake } = start({ mint: [{ status: 200, body }], voice: { realtimeUrl: 'http://127.0.0.1:9/v1/realtime/calls' } });
    await voice.ready;
    assert.equal(fake.sessions[0].connectOptions.url, 'https://relay.example.test/v1/realtime/calls');
  });
});
