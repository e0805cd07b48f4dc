// @ts-check
/**
 * The real @openai/agents-realtime over a fake WebSocket: what the SDK actually sends when the
 * client drives it. The socket answers `session.update` with `session.updated`, as the Realtime
 * API does, and records every event the SDK sends.
 */
import * as sdk from '@openai/agents-realtime';

import { createKeySource } from '../src/client-secret.js';
import { connectVoice } from '../src/voice.js';
import { minted, scriptedFetch } from './fakes.js';

/** Just enough of the browser's WebSocket for the SDK's transport. */
class FakeSocket extends EventTarget {
  /** @param {any[]} sent */
  constructor(sent) {
    super();
    this.sent = sent;
    this.readyState = 0;
    setTimeout(() => {
      this.readyState = 1;
      this.dispatchEvent(new Event('open'));
      this.#receive({ type: 'session.created', event_id: 'ev_0', session: { type: 'realtime', model: 'gpt-realtime' } });
    }, 0);
  }

  /** @param {string} data */
  send(data) {
    const event = JSON.parse(data);
    this.sent.push(event);
    if (event.type === 'session.update') {
      this.#receive({ type: 'session.updated', event_id: `ev_${this.sent.length}`, session: event.session });
    }
  }

  close() {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.dispatchEvent(new Event('close'));
  }

  /** @param {object} event */
  #receive(event) {
    setTimeout(() => {
      const message = new Event('message');
      Object.assign(message, { data: JSON.stringify(event) });
      this.dispatchEvent(message);
    }, 0);
  }
}

/**
 * Connect a voice session through the real SDK; resolve once connected.
 * @param {Partial<import('../src/voice.js').VoiceOptions>} voiceOptions
 */
export async function realSdkSession(voiceOptions) {
  /** @type {any[]} */
  const sent = [];
  class TestWebSocketTransport extends sdk.OpenAIRealtimeWebSocket {
    /** @param {any} options */
    constructor(options) {
      super({ ...options, createWebSocket: async () => /** @type {any} */ (new FakeSocket(sent)) });
    }
  }
  const keySource = createKeySource({
    url: 'https://api.example.test/api/client-secret',
    fetch: scriptedFetch([() => minted(Date.now())]),
  });
  const voice = connectVoice({
    keySource,
    webrtc: false,
    loadSdk: async () => /** @type {any} */ ({ ...sdk, OpenAIRealtimeWebSocket: TestWebSocketTransport }),
    connectTimeoutMs: 5000,
    ...voiceOptions,
  });
  await voice.ready;
  // The SDK sends its first session.update right after the socket opens; let it arrive.
  await new Promise((resolve) => setTimeout(resolve, 20));
  return { sent, voice, close: () => voice.close() };
}
