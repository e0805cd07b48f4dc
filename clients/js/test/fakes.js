// @ts-check
/**
 * Test doubles: a fetch that answers from a script, a clock whose sleeps advance it, and a
 * stand-in for the parts of @openai/agents-realtime the client uses.
 */

/**
 * @typedef {{ status: number, body?: unknown, headers?: Record<string, string> }} ScriptedAnswer
 * @typedef {ScriptedAnswer | Error | ((init: RequestInit) => ScriptedAnswer)} Step
 */

/**
 * A fetch that answers each call with the next step (the last one repeats).
 * @param {Step[]} steps
 */
export function scriptedFetch(steps) {
  /** @type {{ url: string, init: RequestInit }[]} */
  const calls = [];
  /** @type {typeof fetch & { calls: typeof calls }} */
  const fetchFn = Object.assign(
    async (/** @type {any} */ url, /** @type {RequestInit} */ init = {}) => {
      calls.push({ url: String(url), init });
      const step = steps[Math.min(calls.length - 1, steps.length - 1)];
      if (step instanceof Error) throw step;
      const answer = typeof step === 'function' ? step(init) : step;
      const body = answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
      return new Response(body, { status: answer.status, headers: answer.headers ?? {} });
    },
    { calls },
  );
  return fetchFn;
}

let keyNumber = 0;

/**
 * A 200 answer of the key service.
 * @param {number} nowMs
 * @param {number} [ttlS]
 */
export function minted(nowMs, ttlS = 300) {
  keyNumber += 1;
  return {
    status: 200,
    body: {
      value: `ek_test_${keyNumber}`,
      expires_at: Math.floor(nowMs / 1000) + ttlS,
      session: { type: 'realtime', model: 'gpt-realtime', voice: 'marin' },
    },
  };
}

/** A clock that starts at a fixed time; `sleep` advances it instead of waiting. */
export function fakeClock(startMs = 1_800_000_000_000) {
  let nowMs = startMs;
  /** @type {number[]} */
  const sleeps = [];
  return {
    now: () => nowMs,
    /** @param {number} ms */
    advance(ms) {
      nowMs += ms;
    },
    sleeps,
    /**
     * @param {number} ms
     * @param {AbortSignal} [signal]
     */
    async sleep(ms, signal) {
      if (signal?.aborted) throw signal.reason;
      sleeps.push(ms);
      nowMs += ms;
    },
  };
}

/** A minimal event emitter, as the SDK's own (`on`, `emit`). */
class Emitter {
  /** @type {Map<string, Function[]>} */
  #listeners = new Map();

  /**
   * @param {string} type
   * @param {Function} listener
   */
  on(type, listener) {
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), listener]);
  }

  /**
   * @param {string} type
   * @param {...unknown} args
   */
  emit(type, ...args) {
    for (const listener of this.#listeners.get(type) ?? []) listener(...args);
  }
}

/**
 * @typedef {'ok' | 'drop-later' | { fail: Error }} CallOutcome
 */

/**
 * The SDK's RealtimeAgent, RealtimeSession and transports. `outcomes` says how each connect()
 * ends, in order (the last repeats): 'ok', or { fail: error } as the SDK would reject.
 * @param {CallOutcome[]} outcomes
 */
export function fakeSdk(outcomes = ['ok']) {
  /** @type {any[]} */
  const sessions = [];
  /** @type {any[]} */
  const transports = [];

  class FakeTransport extends Emitter {
    /** @param {string} kind @param {Record<string, unknown>} options */
    constructor(kind, options) {
      super();
      this.kind = kind;
      this.options = options;
      this.dataChannel = new EventTarget();
      this.connectionState = { dataChannel: this.dataChannel };
      transports.push(this);
    }

    /** The server hangs up: the events channel closes. */
    hangUp() {
      this.dataChannel.dispatchEvent(new Event('close'));
    }
  }

  class RealtimeAgent {
    /** @param {Record<string, unknown>} config */
    constructor(config) {
      this.config = config;
    }
  }

  class RealtimeSession extends Emitter {
    /**
     * @param {any} agent a RealtimeAgent
     * @param {Record<string, any>} options
     */
    constructor(agent, options) {
      super();
      this.agent = agent;
      this.options = options;
      this.transport = options.transport;
      this.closed = false;
      /** @type {boolean | null} */
      this.muted = false;
      /** @type {unknown[]} */
      this.history = [];
      sessions.push(this);
    }

    /** @param {{ apiKey: string, url?: string }} options */
    async connect(options) {
      this.connectOptions = options;
      const outcome = outcomes[Math.min(sessions.length - 1, outcomes.length - 1)];
      this.transport.emit('connection_change', 'connecting');
      await Promise.resolve();
      if (typeof outcome === 'object') throw outcome.fail;
      this.emit('transport_event', {
        type: 'session.created',
        session: { model: 'gpt-realtime', instructions: 'minted', audio: { output: { voice: 'marin' } } },
      });
      this.transport.emit('connection_change', 'connected');
    }

    /** The SDK's mute: it disables the microphone tracks it was given. */
    /** @param {boolean} muted */
    mute(muted) {
      this.muted = muted;
    }

    close() {
      if (this.closed) return;
      this.closed = true;
      this.transport.emit('connection_change', 'disconnected');
    }
  }

  return {
    sessions,
    transports,
    /** @type {any} typed loosely: a stand-in, not the SDK's classes */
    sdk: {
      RealtimeAgent,
      RealtimeSession,
      OpenAIRealtimeWebRTC: class extends FakeTransport {
        /** @param {Record<string, unknown>} options */
        constructor(options) {
          super('webrtc', options);
        }
      },
      OpenAIRealtimeWebSocket: class extends FakeTransport {
        /** @param {Record<string, unknown>} options */
        constructor(options) {
          super('websocket', options);
        }
      },
    },
  };
}

/** A microphone stream whose tracks remember being stopped. */
export function fakeMicrophone() {
  /** @type {{ stopped: boolean, used?: boolean, enabled: boolean, readyState: 'live' | 'ended', stop(): void }} */
  const track = {
    stopped: false,
    enabled: true,
    readyState: 'live',
    stop() {
      this.stopped = true;
      this.readyState = 'ended';
    },
  };
  return { track, stream: /** @type {MediaStream} */ (/** @type {unknown} */ ({ getTracks: () => [track] })) };
}

/**
 * Resolve when `target` fires `type` with a detail that `predicate` accepts.
 * @param {EventTarget} target
 * @param {string} type
 * @param {(detail: any) => boolean} [predicate]
 */
export function nextEvent(target, type, predicate = () => true) {
  return new Promise((resolve) => {
    /** @param {Event} event */
    const listener = (event) => {
      const detail = /** @type {any} */ (event).detail;
      if (!predicate(detail)) return;
      target.removeEventListener(type, listener);
      resolve(detail);
    };
    target.addEventListener(type, listener);
  });
}

/**
 * Collect every event of these types, in order, as [type, detail].
 * @param {EventTarget} target
 * @param {string[]} types
 */
export function record(target, types) {
  /** @type {[string, any][]} */
  const seen = [];
  for (const type of types) {
    target.addEventListener(type, (event) => seen.push([type, /** @type {any} */ (event).detail]));
  }
  return seen;
}
