// @ts-check
/**
 * The demo page: plain JavaScript, no build step. The client (vendor/ekmint-client.js) and the
 * SDK (vendor/openai-agents-realtime.js) are built by clients/js/build.sh and committed.
 *
 * Configuration, in order:
 * - served from this machine (localhost, 127.0.0.1), the query string may override the key
 *   service (`?mint=`), the Realtime calls URL (`?realtime=`), the retry budget
 *   (`?retry_budget_s=`) and the relay switch (`?via=relay`); elsewhere a link could point
 *   your microphone at someone else's server;
 * - the local stack (`make dev`) publishes its emulator's calls URL at LOCAL_CONFIG_PATH;
 * - otherwise the key service is /api/client-secret on this origin and voice goes to OpenAI.
 */
import { createEkmintClient } from './vendor/ekmint-client.js';

const LOCAL_CONFIG_PATH = '/_ekmint/local-config.json';
const COUNTDOWN_TICK_MS = 250;

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * @typedef {object} PageConfig
 * @property {string} mintUrl
 * @property {string | undefined} realtimeUrl
 * @property {number | undefined} retryBudgetMs
 * @property {boolean} relay whether the relay switch starts on
 */

/** @returns {Promise<PageConfig>} */
async function loadConfig() {
  const local = ['localhost', '127.0.0.1', '[::1]'].includes(location.hostname);
  const query = local ? new URLSearchParams(location.search) : new URLSearchParams();
  const stack = await localStackConfig();
  const budget = query.get('retry_budget_s');
  return {
    mintUrl: query.get('mint') ?? '/api/client-secret',
    realtimeUrl: query.get('realtime') ?? stack?.realtime_url ?? undefined,
    retryBudgetMs: budget ? Number(budget) * 1000 : undefined,
    relay: query.get('via') === 'relay',
  };
}

/** The local stack's settings for this page, or null anywhere else (a 404). */
async function localStackConfig() {
  try {
    const response = await fetch(LOCAL_CONFIG_PATH, { cache: 'no-store' });
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

// ---- what the page shows ---------------------------------------------------------------

/** @param {string} text */
function log(text) {
  const item = document.createElement('li');
  item.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  $('events').append(item);
}

/**
 * @param {string} state
 * @param {string} text
 */
function showStatus(state, text) {
  const status = $('status');
  status.dataset.state = state;
  status.textContent = text;
}

/** @param {any} error an EkmintError: code, message, action, requestId */
function showError(error) {
  $('error-message').textContent = error.message;
  $('error-action').textContent = error.action ?? '';
  $('error-code').textContent = error.code ?? 'internal_error';
  $('error-request').textContent = error.requestId ? ` · request ${error.requestId}` : '';
  $('error').hidden = false;
  log(`error ${error.code}: ${error.message}`);
  // The underlying failure (the SDK's words, an HTTP status) for developers, not the headline.
  if (error.cause) log(`  detail: ${error.cause.message ?? error.cause}`);
}

function clearError() {
  $('error').hidden = true;
}

/** Never the whole key on screen: enough to tell two keys apart. */
function masked(/** @type {string} */ value) {
  return `ek_…${value.slice(-4)}`;
}

/** @param {number} ms */
function countdown(ms) {
  if (ms <= 0) return 'expired';
  const seconds = Math.ceil(ms / 1000);
  const minutes = Math.floor(seconds / 60);
  return `in ${minutes}:${String(seconds % 60).padStart(2, '0')}`;
}

// ---- wiring ----------------------------------------------------------------------------

async function main() {
  const config = await loadConfig();
  /** @type {HTMLInputElement} */
  const tokenInput = /** @type {any} */ ($('auth-token'));
  /** @type {HTMLInputElement} */
  const relayInput = /** @type {any} */ ($('via-relay'));
  relayInput.checked = config.relay;
  const ekmint = createEkmintClient({
    url: config.mintUrl,
    retryBudgetMs: config.retryBudgetMs,
    // For AUTH_MODE=jwt; asked before every key request, so a refreshed token is used.
    getAuthToken: () => tokenInput.value.trim() || null,
    onRetry({ attempt, delayMs, error }) {
      const seconds = (delayMs / 1000).toFixed(1);
      showStatus('connecting', `Key service busy (${error.code}); retrying in ${seconds} s (attempt ${attempt + 1}).`);
      log(`key request ${attempt} failed with ${error.code}; retrying in ${seconds} s`);
    },
    voice: { realtimeUrl: config.realtimeUrl, audioElement: /** @type {HTMLAudioElement} */ ($('remote-audio')) },
  });
  log(`key service ${config.mintUrl}; voice via ${config.realtimeUrl ?? 'OpenAI'}`);

  /** @type {ReturnType<typeof setInterval> | undefined} */
  let ticker;
  const showKey = () => {
    const key = ekmint.peekClientSecret();
    if (!key) return;
    $('key-value').textContent = masked(key.value);
    $('key-session').textContent = `${key.session.type} · ${key.session.model} · ${key.session.voice}`;
    const tick = () => {
      const at = new Date(key.expiresAt * 1000).toLocaleTimeString();
      $('key-expiry').textContent = `${countdown(ekmint.expiresInMs(key))} (${at})`;
    };
    tick();
    clearInterval(ticker);
    ticker = setInterval(tick, COUNTDOWN_TICK_MS);
  };

  $('get-key').addEventListener('click', async () => {
    clearError();
    const before = ekmint.peekClientSecret();
    try {
      const key = await ekmint.getClientSecret();
      showKey();
      log(key === before ? 'the cached key is still good' : `new key ${masked(key.value)}`);
      if ($('status').dataset.state === 'connecting') showStatus('idle', 'Not connected.');
    } catch (error) {
      showStatus('failed', 'Could not get a key.');
      showError(error);
    }
  });

  /** @type {ReturnType<typeof ekmint.connectVoice> | null} */
  let voice = null;
  const setButtons = (/** @type {boolean} */ running) => {
    /** @type {HTMLButtonElement} */ ($('start-voice')).disabled = running;
    /** @type {HTMLButtonElement} */ ($('stop-voice')).disabled = !running;
  };

  $('start-voice').addEventListener('click', () => {
    clearError();
    setButtons(true);
    // Relayed, the page's sign-in token (if any) goes with the offer, and no key is fetched.
    voice = ekmint.connectVoice({ agent: assistant, via: relayInput.checked ? 'relay' : 'mint' });
    relayInput.disabled = true;
    log(`starting voice over ${voice.transport}${voice.via === 'relay' ? ', relayed through ekmint (no key in this page)' : ''}`);
    voice.addEventListener('statechange', (event) => {
      const { state, reason } = /** @type {any} */ (event).detail;
      showStatus(state, statusText(state, reason));
      log(`state ${state}${reason ? ` (${reason})` : ''}`);
      if (state === 'failed' || (state === 'disconnected' && reason === 'closed')) {
        setButtons(false);
        relayInput.disabled = false;
      }
    });
    voice.addEventListener('key', (event) => {
      showKey();
      log(`key for this connection expires ${new Date(/** @type {any} */ (event).detail.expiresAt * 1000).toLocaleTimeString()}`);
    });
    voice.addEventListener('session', (event) => {
      const { type, session } = /** @type {any} */ (event).detail;
      $('session-model').textContent = session.model ?? '–';
      $('session-voice').textContent = session.audio?.output?.voice ?? session.voice ?? '–';
      $('session-instructions').textContent = session.instructions ?? '–';
      log(`${type} from the server (session ${session.id ?? '?'})`);
    });
    voice.addEventListener('retry', (event) => {
      const { attempt, delayMs, error } = /** @type {any} */ (event).detail;
      log(`reconnect ${attempt} in ${delayMs / 1000} s after ${error.code}`);
    });
    voice.addEventListener('error', (event) => showError(/** @type {any} */ (event).detail.error));
  });

  $('stop-voice').addEventListener('click', () => {
    voice?.close();
    voice = null;
  });

  document.body.dataset.ready = 'true'; // for the browser tests: listeners are attached
}

/**
 * The agent for each (re)connect: no instructions of its own (the minted ones stay) and one
 * tool, which runs in this page. The SDK comes from the import map, loaded on first use.
 */
async function assistant() {
  const { RealtimeAgent, tool } = await import('@openai/agents-realtime');
  const whatTimeIsIt = tool({
    name: 'what_time_is_it',
    description: "The current time on the user's device.",
    parameters: { type: 'object', properties: {}, required: [], additionalProperties: false },
    strict: true,
    execute: async () => new Date().toLocaleTimeString(),
  });
  return new RealtimeAgent({ name: 'Assistant', tools: [whatTimeIsIt] });
}

/**
 * @param {string} state
 * @param {string | undefined} reason
 */
function statusText(state, reason) {
  switch (state) {
    case 'connecting':
      return 'Connecting…';
    case 'connected':
      return 'Connected: say something.';
    case 'disconnected':
      return reason === 'closed' ? 'Not connected.' : `Connection lost (${reason}); reconnecting…`;
    case 'failed':
      return 'Voice failed; see below.';
    default:
      return state;
  }
}

main().catch((error) => {
  showStatus('failed', 'The page could not start.');
  showError(error);
});
