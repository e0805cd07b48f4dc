import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { createEkmintClient } from '@ekmint/client';

import { useEkmintVoice } from './useEkmintVoice.js';

// One client per page: it caches the key and shares requests between sessions.
const ekmint = createEkmintClient({
  url: import.meta.env.VITE_EKMINT_URL ?? 'http://127.0.0.1:3000/api/client-secret',
  voice: { realtimeUrl: import.meta.env.VITE_REALTIME_URL || undefined },
});

/** Talks while mounted: StrictMode mounts it, cleans up and mounts it again in development. */
function Conversation() {
  const { voice, state, error, serverSession } = useEkmintVoice(ekmint);
  const [muted, setMuted] = useState(false);
  return (
    <section>
      <button
        id="mute"
        type="button"
        disabled={state !== 'connected'}
        onClick={() => {
          voice?.mute(!muted);
          setMuted(!muted);
        }}
      >
        {muted ? 'Unmute' : 'Mute'}
      </button>
      <p>
        Status: <output id="state">{state}</output>
      </p>
      <p>
        Voice: <output id="voice">{serverSession?.audio?.output?.voice ?? '–'}</output>
      </p>
      {error && (
        <p id="error">
          <strong>{error.message}</strong> {error.action} (<code id="error-code">{error.code}</code>)
        </p>
      )}
    </section>
  );
}

function App() {
  const [talking, setTalking] = useState(false);
  return (
    <main>
      <h1>Talk to the assistant</h1>
      <button id="toggle" type="button" onClick={() => setTalking(!talking)}>
        {talking ? 'Stop' : 'Start'}
      </button>
      {talking ? <Conversation /> : <p>Status: <output id="state">idle</output></p>}
    </main>
  );
}

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
document.body.dataset.ready = 'true';
