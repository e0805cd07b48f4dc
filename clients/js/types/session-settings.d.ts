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
export type Json = Record<string, any>;
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
export declare function sendOnlyExplicitSettings(transport: object, pageConfig?: Json, { fixedModel }?: {
    fixedModel?: boolean;
}): boolean;
/**
 * `payload` (the wire `session` object) without the fields that hold the SDK's `defaults`
 * and that `pageConfig` does not set, and without empty instructions.
 * @param {Json} payload
 * @param {Json} defaults the payload the SDK builds from an empty config
 * @param {Json} pageConfig
 * @returns {Json}
 */
export declare function onlyExplicit(payload: Json, defaults: Json, pageConfig: Json): Json;
