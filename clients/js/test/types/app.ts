// A strict TypeScript app using the package by its name, through its `exports` and `types`
// (the package resolves itself by name). `tsc -p test/types` must pass; each @ts-expect-error
// must be needed, so a declaration that decays to `any` fails the check.
import { RealtimeAgent, tool, type RealtimeSession } from '@openai/agents-realtime';

import {
  EkmintError,
  createEkmintClient,
  type ErrorCode,
  type VoiceEventMap,
  type VoiceState,
} from '@ekmint/client';

const ekmint = createEkmintClient({
  url: 'http://127.0.0.1:3000/api/client-secret',
  getAuthToken: async () => 'a-sign-in-token',
});

const weather = tool({
  name: 'get_weather',
  description: 'The weather in a city.',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
    additionalProperties: false,
  },
  strict: true,
  execute: async (input) => `Sunny in ${String((input as { city: string }).city)}.`,
});

const voice = ekmint.connectVoice({
  agent: () => new RealtimeAgent({ name: 'Helper', tools: [weather] }),
  sessionOptions: { config: { audio: { input: { turnDetection: { type: 'server_vad' } } } } },
});

voice.addEventListener('statechange', (event) => {
  const state: VoiceState = event.detail.state;
  const reason: string | undefined = event.detail.reason;
  console.log(state, reason);
  // @ts-expect-error: a state change has no `session`
  console.log(event.detail.session);
});

voice.addEventListener('sessionstart', (event) => {
  const session: RealtimeSession = event.detail.session;
  const reconnect: boolean = event.detail.reconnect;
  session.on('history_updated', (history) => console.log(reconnect, history.length));
});

voice.addEventListener('error', (event) => {
  const error: EkmintError = event.detail.error;
  const code: ErrorCode = error.code;
  console.log(code, error.message, error.action);
});

voice.addEventListener('retry', (event) => console.log(event.detail.attempt, event.detail.delayMs));
voice.addEventListener('realtimeerror', (event) => console.log(event.detail.error.code));

const live: RealtimeSession | null = voice.session;
voice.mute(!voice.muted);
const started: Promise<void> = voice.ready;

// @ts-expect-error: not an event the connection dispatches with a typed detail
voice.addEventListener('statechange', (event: VoiceEventMap['key']) => console.log(event.detail.expiresAt));

// @ts-expect-error: keySource comes from the client, not the caller
ekmint.connectVoice({ keySource: null });

// Relayed through ekmint's POST /api/realtime/calls: no key in the page.
const relayed = ekmint.connectVoice({ via: 'relay', relaySession: { voice: 'cedar' } });
const via: 'mint' | 'relay' = relayed.via;
// @ts-expect-error: only mint and relay
ekmint.connectVoice({ via: 'proxy' });
console.log(via);

export { live, started };
