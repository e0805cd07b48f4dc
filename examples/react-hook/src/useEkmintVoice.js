// useEkmintVoice: a voice session for as long as a component wants one.
//
// StrictMode runs every effect twice in development (mount, cleanup, mount). The cleanup closes
// the first session: its key request is abandoned for that session only (another caller's
// request goes on), a microphone granted after the cleanup is stopped at once, and the closed
// session changes no state afterwards. So the second mount starts cleanly, and nothing leaks.
import { useEffect, useState } from 'react';

/**
 * @param {ReturnType<import('@ekmint/client').createEkmintClient>} ekmint
 * @param {{ enabled?: boolean, options?: Omit<import('@ekmint/client').VoiceOptions, 'keySource'> }} [settings]
 *   `enabled` (default true): talk while the component is mounted and this is true
 */
export function useEkmintVoice(ekmint, { enabled = true, options } = {}) {
  const [voice, setVoice] = useState(/** @type {import('@ekmint/client').VoiceConnection | null} */ (null));
  const [state, setState] = useState(/** @type {import('@ekmint/client').VoiceState} */ ('idle'));
  const [error, setError] = useState(/** @type {import('@ekmint/client').EkmintError | null} */ (null));
  const [serverSession, setServerSession] = useState(/** @type {Record<string, any> | null} */ (null));

  useEffect(() => {
    if (!enabled) return undefined;
    const connection = ekmint.connectVoice(options);
    window.ekmintSessions = (window.ekmintSessions ?? 0) + 1; // for the example's browser test
    setVoice(connection);
    setError(null);
    connection.addEventListener('statechange', (event) => setState(event.detail.state));
    connection.addEventListener('session', (event) => setServerSession(event.detail.session));
    connection.addEventListener('error', (event) => setError(event.detail.error));
    return () => {
      connection.close();
      setVoice((current) => (current === connection ? null : current));
      setState('idle');
    };
    // `options` is read once per session: pass a stable object (module scope or useMemo).
  }, [ekmint, enabled, options]);

  return { voice, state, error, serverSession };
}
