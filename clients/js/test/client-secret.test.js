// @ts-check
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createKeySource } from '../src/client-secret.js';
import { EkmintError } from '../src/errors.js';
import { fakeClock, minted, scriptedFetch } from './fakes.js';

const URL = 'https://api.example.test/api/client-secret';

/**
 * @param {import('./fakes.js').Step[]} steps
 * @param {Partial<import('../src/client-secret.js').KeySourceOptions>} [extra]
 */
function source(steps, extra = {}) {
  const clock = fakeClock();
  const fetch = scriptedFetch(steps);
  const keys = createKeySource({ url: URL, fetch, now: clock.now, sleep: clock.sleep, random: () => 0.5, ...extra });
  return { keys, fetch, clock };
}

describe('getClientSecret', () => {
  it('returns the key, its expiry and the session summary', async () => {
    const clock = fakeClock();
    const answer = minted(clock.now());
    const { keys } = source([answer]);
    const secret = await keys.getClientSecret();
    assert.equal(secret.value, answer.body.value);
    assert.equal(secret.expiresAt, answer.body.expires_at);
    assert.deepEqual(secret.session, { type: 'realtime', model: 'gpt-realtime', voice: 'marin' });
  });

  it('caches the key until shortly before it expires, then fetches a new one', async () => {
    const clock = fakeClock();
    const fetch = scriptedFetch([() => minted(clock.now(), 300)]);
    const keys = createKeySource({ url: URL, fetch, now: clock.now, sleep: clock.sleep });
    const first = await keys.getClientSecret();
    clock.advance(250_000); // 50 s left: more than the 30 s margin
    assert.equal(await keys.getClientSecret(), first);
    clock.advance(25_000); // 25 s left: inside the margin
    const second = await keys.getClientSecret();
    assert.notEqual(second.value, first.value);
    assert.equal(fetch.calls.length, 2);
  });

  it('scales the refresh margin down for short-lived keys', async () => {
    const clock = fakeClock();
    const fetch = scriptedFetch([() => minted(clock.now(), 20)]);
    const keys = createKeySource({ url: URL, fetch, now: clock.now, sleep: clock.sleep });
    const first = await keys.getClientSecret();
    clock.advance(10_000); // a 20 s key: the margin is 4 s, so 10 s left is still fresh
    assert.equal(await keys.getClientSecret(), first);
    assert.equal(fetch.calls.length, 1);
  });

  it('shares one request between concurrent callers', async () => {
    const clock = fakeClock();
    const { keys, fetch } = source([minted(clock.now())]);
    const [a, b] = await Promise.all([keys.getClientSecret(), keys.getClientSecret()]);
    assert.equal(a, b);
    assert.equal(fetch.calls.length, 1);
  });

  it('fetches a new key when asked to, even if the cached one is fresh', async () => {
    const clock = fakeClock();
    const { keys, fetch } = source([() => minted(clock.now())]);
    const first = await keys.getClientSecret();
    const second = await keys.getClientSecret({ forceRefresh: true });
    assert.notEqual(first.value, second.value);
    assert.equal(fetch.calls.length, 2);
  });

  it('sends a bodiless POST, a CORS simple request, when no session settings are given', async () => {
    const clock = fakeClock();
    const { keys, fetch } = source([minted(clock.now())]);
    await keys.getClientSecret();
    const { init } = fetch.calls[0];
    assert.equal(init.method, 'POST');
    assert.equal(init.body, undefined);
    assert.deepEqual(init.headers, { Accept: 'application/json' });
    assert.equal(init.credentials, 'omit');
  });

  it('sends the session settings as JSON', async () => {
    const clock = fakeClock();
    const request = { session: { audio: { output: { voice: 'coral' } } } };
    const { keys, fetch } = source([minted(clock.now())], { request });
    await keys.getClientSecret();
    const { init } = fetch.calls[0];
    assert.equal(init.body, JSON.stringify(request));
    assert.equal(/** @type {Record<string, string>} */ (init.headers)['Content-Type'], 'application/json');
  });

  it("forwards the page's bearer token, asking for it on every request", async () => {
    const clock = fakeClock();
    let n = 0;
    const getAuthToken = async () => `jwt-${++n}`;
    const { keys, fetch } = source([() => minted(clock.now())], { getAuthToken });
    await keys.getClientSecret();
    await keys.getClientSecret({ forceRefresh: true });
    const auth = fetch.calls.map((c) => /** @type {Record<string, string>} */ (c.init.headers).Authorization);
    assert.deepEqual(auth, ['Bearer jwt-1', 'Bearer jwt-2']);
  });

  it('sends no Authorization header when the token callback has none', async () => {
    const clock = fakeClock();
    const { keys, fetch } = source([minted(clock.now())], { getAuthToken: () => null });
    await keys.getClientSecret();
    assert.equal('Authorization' in /** @type {object} */ (fetch.calls[0].init.headers), false);
  });

  it('reports a failing token callback as unauthorized, without calling the service', async () => {
    const { keys, fetch } = source([], {
      getAuthToken: () => {
        throw new Error('session expired');
      },
    });
    await assert.rejects(keys.getClientSecret(), { code: 'unauthorized' });
    assert.equal(fetch.calls.length, 0);
  });
});

describe('retries', () => {
  const busy = (/** @type {string} */ retryAfter) => ({
    status: 503,
    headers: { 'retry-after': retryAfter },
    body: { error: { code: 'openai_api_unavailable', message: 'OpenAI kept failing.', action: 'Retry.', request_id: 'r-1' } },
  });

  it('retries 503 after the Retry-After seconds, then succeeds', async () => {
    const clock = fakeClock();
    const { keys, fetch, clock: c } = source([busy('2'), busy('2'), () => minted(clock.now())]);
    const secret = await keys.getClientSecret();
    assert.match(secret.value, /^ek_/);
    assert.equal(fetch.calls.length, 3);
    assert.deepEqual(c.sleeps, [2000, 2000]);
  });

  it('backs off exponentially when there is no Retry-After', async () => {
    const clock = fakeClock();
    const limited = { status: 429, body: { error: { code: 'rate_limited', message: 'Slow down.' } } };
    const { keys, clock: c } = source([limited, limited, limited, () => minted(clock.now())]);
    await keys.getClientSecret();
    assert.deepEqual(c.sleeps, [500, 1000, 2000]);
  });

  it('tells the page before each pause', async () => {
    const clock = fakeClock();
    /** @type {import('../src/client-secret.js').RetryInfo[]} */
    const seen = [];
    const { keys } = source([busy('1'), () => minted(clock.now())], { onRetry: (info) => seen.push(info) });
    await keys.getClientSecret();
    assert.equal(seen.length, 1);
    assert.equal(seen[0].attempt, 1);
    assert.equal(seen[0].delayMs, 1000);
    assert.equal(seen[0].error.code, 'openai_api_unavailable');
  });

  it('gives up within the retry budget with the service error and a clear message', async () => {
    const { keys, fetch, clock } = source([busy('4')], { retryBudgetMs: 10_000 });
    const error = await keys.getClientSecret().catch((e) => e);
    assert.ok(error instanceof EkmintError);
    assert.equal(error.code, 'openai_api_unavailable');
    assert.equal(error.requestId, 'r-1');
    assert.match(error.message, /^OpenAI kept failing\. \(Tried 3 times in 8 s; giving up\.\)$/);
    assert.equal(fetch.calls.length, 3);
    assert.ok(clock.sleeps.reduce((a, b) => a + b, 0) <= 10_000);
  });

  it('gives up at once when Retry-After is longer than the budget', async () => {
    const limited = { status: 429, headers: { 'retry-after': '60' }, body: { error: { code: 'rate_limited', message: 'Quota spent.', action: 'Wait 60 s.' } } };
    const { keys, fetch } = source([limited]);
    await assert.rejects(keys.getClientSecret(), { code: 'rate_limited', retryAfterS: 60, action: 'Wait 60 s.' });
    assert.equal(fetch.calls.length, 1);
  });

  for (const [status, code] of [
    [400, 'invalid_session_config'],
    [401, 'unauthorized'],
    [403, 'origin_not_allowed'],
    [502, 'token_generation_failed'],
    [500, 'internal_error'],
  ]) {
    it(`does not retry ${status} (${code})`, async () => {
      const { keys, fetch } = source([{ status: Number(status), body: { error: { code, message: 'no', action: 'fix it' } } }]);
      await assert.rejects(keys.getClientSecret(), { code });
      assert.equal(fetch.calls.length, 1);
    });
  }
});

describe('errors', () => {
  it("keeps the service's code, message, action and request id", async () => {
    const body = { error: { code: 'invalid_session_config', message: "session.model: 'x' is not allowed", action: 'Use one of: gpt-realtime', request_id: 'req-9' } };
    const { keys } = source([{ status: 400, body }]);
    await assert.rejects(keys.getClientSecret(), {
      name: 'EkmintError',
      code: 'invalid_session_config',
      message: "session.model: 'x' is not allowed",
      action: 'Use one of: gpt-realtime',
      requestId: 'req-9',
      status: 400,
    });
  });

  it("maps API Gateway's own answers (no envelope) by status", async () => {
    const { keys } = source([{ status: 401, body: { message: 'Unauthorized' } }]);
    const error = await keys.getClientSecret().catch((e) => e);
    assert.equal(error.code, 'unauthorized');
    assert.equal(error.message, 'You are not signed in, or your sign-in has expired.');
    assert.equal(error.action, 'Sign in again, then retry.');
  });

  it('retries a 503 page that is not JSON', async () => {
    const clock = fakeClock();
    const { keys, fetch } = source([{ status: 503, body: '<html>busy</html>' }, () => minted(clock.now())]);
    await keys.getClientSecret();
    assert.equal(fetch.calls.length, 2);
  });

  it('says the service could not be reached when fetch fails (offline, CORS refusal)', async () => {
    const { keys, fetch } = source([new TypeError('Failed to fetch')]);
    const error = await keys.getClientSecret().catch((e) => e);
    assert.equal(error.code, 'internal_error');
    assert.equal(error.message, `Could not reach the key service at ${URL}.`);
    assert.match(error.action, /ALLOWED_ORIGINS/);
    assert.equal(fetch.calls.length, 1);
  });

  it('refuses a 200 without an ek_ value', async () => {
    const { keys } = source([{ status: 200, body: { value: 'sk-oops', expires_at: 1 } }]);
    await assert.rejects(keys.getClientSecret(), { code: 'internal_error', message: /without a usable voice key/ });
  });

  it('never puts the key in an error', async () => {
    const { keys } = source([{ status: 200, body: { value: 'ek_secret_value', expires_at: 'soon' } }]);
    const error = await keys.getClientSecret().catch((e) => e);
    assert.doesNotMatch(JSON.stringify(error) + error.message + error.action, /ek_secret_value/);
  });
});

describe('expiry', () => {
  it("corrects this device's clock by the server's Date header", async () => {
    const clock = fakeClock();
    const serverNow = clock.now() + 120_000; // this device runs 2 minutes slow
    const answer = minted(serverNow, 300);
    const { keys } = source([{ ...answer, headers: { date: new Date(serverNow).toUTCString() } }]);
    const secret = await keys.getClientSecret();
    assert.ok(Math.abs(keys.expiresInMs(secret) - 300_000) < 1000);
  });

  it('forgets the cached key on invalidate()', async () => {
    const clock = fakeClock();
    const { keys, fetch } = source([() => minted(clock.now())]);
    await keys.getClientSecret();
    keys.invalidate();
    assert.equal(keys.peek(), null);
    await keys.getClientSecret();
    assert.equal(fetch.calls.length, 2);
  });
});
