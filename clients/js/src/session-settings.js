// @ts-check
/**
 * What the client lets the SDK send in `session.update`: only what the page set.
 *
 * The service mints each key with a session (model, voice, instructions, turn detection, …)
 * that its policy decides. The SDK's `session.update` fills every field it knows with its own
 * defaults (semantic_vad, a transcription model, speed 1, audio output, '' for an agent without
 * instructions), which would quietly replace what was minted. This drops each field that holds
 * the SDK's default unless the page set it (in `sessionOptions.config`); what the page or its
 * agent set (instructions, voice, tools, any other value) goes out as the SDK builds it.
 */

/** @typedef {Record<string, any>} Json */

/**
 * The payload fields the SDK fills with defaults, and where a page sets each in the SDK's
 * config (the current name and the deprecated flat one).
 * @type {[path: string[], setBy: (config: Json) => unknown[]][]}
 */
const DEFAULTED = [
  [['output_modalities'], (c) => [c.outputModalities, c.modalities]],
  [['tool_choice'], (c) => [c.toolChoice]],
  [['audio', 'input', 'format'], (c) => [c.audio?.input?.format, c.inputAudioFormat]],
  [['audio', 'input', 'noise_reduction'], (c) => [c.audio?.input?.noiseReduction, c.inputAudioNoiseReduction]],
  [['audio', 'input', 'transcription'], (c) => [c.audio?.input?.transcription, c.inputAudioTranscription]],
  [['audio', 'input', 'turn_detection'], (c) => [c.audio?.input?.turnDetection, c.turnDetection]],
  [['audio', 'output', 'format'], (c) => [c.audio?.output?.format, c.outputAudioFormat]],
  [['audio', 'output', 'voice'], (c) => [c.audio?.output?.voice, c.voice]],
  [['audio', 'output', 'speed'], (c) => [c.audio?.output?.speed, c.speed]],
];

/**
 * Wrap the transport's payload builder so that every `session.update` it sends is trimmed.
 * The SDK (0.20) builds the payload in `_getMergedSessionConfig`; the client's tests run the
 * real SDK, so an upgrade that renames it fails there rather than in a page.
 * @param {object} transport an SDK transport (OpenAIRealtimeWebRTC / OpenAIRealtimeWebSocket)
 * @param {Json} [pageConfig] the session config the page gave (`sessionOptions.config`)
 * @param {{ fixedModel?: boolean }} [options] fixedModel: the call's model was fixed when it
 *   was created (a relayed call: ekmint's policy chose it), so `model` is never sent; the SDK
 *   would otherwise send its own default
 * @returns {boolean} whether the SDK offered the hook
 */
export function sendOnlyExplicitSettings(transport, pageConfig = {}, { fixedModel = false } = {}) {
  const target = /** @type {{ _getMergedSessionConfig?: (config: Json) => Json }} */ (transport);
  const merge = target._getMergedSessionConfig;
  if (typeof merge !== 'function') return false;
  const defaults = merge.call(transport, {});
  target._getMergedSessionConfig = (config) => {
    const trimmed = onlyExplicit(merge.call(transport, config), defaults, pageConfig);
    if (fixedModel) delete trimmed.model;
    return trimmed;
  };
  return true;
}

/**
 * `payload` (the wire `session` object) without the fields that hold the SDK's `defaults`
 * and that `pageConfig` does not set, and without empty instructions.
 * @param {Json} payload
 * @param {Json} defaults the payload the SDK builds from an empty config
 * @param {Json} pageConfig
 * @returns {Json}
 */
export function onlyExplicit(payload, defaults, pageConfig) {
  /** @type {Json} */
  const trimmed = structuredClone(payload);
  // '' is the SDK's way of saying "this agent has no instructions": it would wipe the minted ones.
  if (!trimmed.instructions) delete trimmed.instructions;
  for (const [path, setBy] of DEFAULTED) {
    const pageSet = setBy(pageConfig).some((value) => value !== undefined);
    if (!pageSet && same(valueAt(trimmed, path), valueAt(defaults, path))) removeAt(trimmed, path);
  }
  return trimmed;
}

/** @param {unknown} a @param {unknown} b */
function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** @param {Json} object @param {string[]} path */
function valueAt(object, path) {
  return path.reduce((node, key) => node?.[key], /** @type {any} */ (object));
}

/** Delete the field, then any object the deletion left empty. @param {Json} object @param {string[]} path */
function removeAt(object, path) {
  const parents = [object];
  for (const key of path.slice(0, -1)) {
    const next = parents.at(-1)?.[key];
    if (typeof next !== 'object' || next === null) return;
    parents.push(next);
  }
  const last = /** @type {Json} */ (parents.at(-1));
  delete last[/** @type {string} */ (path.at(-1))];
  for (let depth = parents.length - 1; depth > 0; depth -= 1) {
    if (Object.keys(parents[depth]).length) break;
    delete parents[depth - 1][path[depth - 1]];
  }
}
