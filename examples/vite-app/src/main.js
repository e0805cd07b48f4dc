// The smallest page that talks: a key from ekmint, a voice session, its state and errors.
// Configure with Vite's env files (.env.local) or the shell:
//   VITE_EKMINT_URL       the key service, e.g. https://api.example.com/api/client-secret
//   VITE_REALTIME_URL     optional: the WebRTC calls URL (the emulator's under `make dev`)
import { RealtimeAgent, tool } from '@openai/agents-realtime';
import { createEkmintClient } from '@ekmint/client';

const $ = (id) => document.getElementById(id);

const ekmint = createEkmintClient({
  url: import.meta.env.VITE_EKMINT_URL ?? 'http://127.0.0.1:3000/api/client-secret',
  voice: {
    realtimeUrl: import.meta.env.VITE_REALTIME_URL || undefined,
    audioElement: $('assistant-audio'),
  },
});

// A tool the model can call; it runs here, in the page.
const whatTimeIsIt = tool({
  name: 'what_time_is_it',
  description: 'The current time on this device.',
  parameters: { type: 'object', properties: {}, required: [], additionalProperties: false },
  strict: true,
  execute: async () => new Date().toLocaleTimeString(),
});

let voice = null;

function setRunning(running) {
  $('start').disabled = running;
  $('stop').disabled = !running;
}

$('start').addEventListener('click', () => {
  $('error').hidden = true;
  voice = ekmint.connectVoice({
    // A new agent per (re)connect; no instructions: the minted ones stay.
    agent: () => new RealtimeAgent({ name: 'Assistant', tools: [whatTimeIsIt] }),
  });
  setRunning(true);
  voice.addEventListener('statechange', (event) => {
    const { state, reason } = event.detail;
    $('state').textContent = reason ? `${state} (${reason})` : state;
    $('mute').disabled = state !== 'connected';
    if (state === 'failed' || reason === 'closed') setRunning(false);
  });
  // What the server holds: the minted session, plus only what this page set.
  voice.addEventListener('session', (event) => {
    $('turn-detection').textContent = event.detail.session.audio?.input?.turn_detection?.type ?? 'none';
    $('turn-detection').dataset.event = event.detail.type;
  });
  voice.addEventListener('error', (event) => {
    const { code, message, action } = event.detail.error;
    $('error-code').textContent = code;
    $('error-message').textContent = message;
    $('error-action').textContent = action;
    $('error').hidden = false;
  });
});

$('stop').addEventListener('click', () => {
  voice?.close();
  voice = null;
});

$('mute').addEventListener('click', () => {
  voice?.mute(!voice.muted);
  $('mute').textContent = voice?.muted ? 'Unmute' : 'Mute';
});

document.body.dataset.ready = 'true';
