#!/usr/bin/env sh
# Rebuilds the two files the demo page loads, from the installed npm packages:
#   examples/static-site/vendor/openai-agents-realtime.js  the SDK, bundled once (works offline)
#   examples/static-site/vendor/ekmint-client.js           this module, SDK left external
# The page maps the bare specifier '@openai/agents-realtime' to the first with an import map,
# so the client's own source stays plain ES modules with the usual package import.
# Run after `npm ci` (npm run build does both steps' second half); commit the output.
set -eu
cd "$(dirname "$0")"
out="${1:-../../examples/static-site/vendor}"
mkdir -p "$out"
esbuild=node_modules/.bin/esbuild
if [ ! -x "$esbuild" ]; then
  echo "build.sh: esbuild is missing; run 'npm ci' in clients/js first" >&2
  exit 1
fi

# Only what the client uses: a named list keeps the bundle's surface explicit.
# `tool` too: a plain-HTML page defines its agent's tools with it (docs/frontend.md, "Tools").
echo "export { RealtimeAgent, RealtimeSession, OpenAIRealtimeWebRTC, OpenAIRealtimeWebSocket, tool } from '@openai/agents-realtime';" |
  "$esbuild" --bundle --format=esm --platform=browser --target=es2022 --minify \
    --legal-comments=eof --log-level=warning \
    --banner:js="/* @openai/agents-realtime $(node -p "require('./node_modules/@openai/agents-realtime/package.json').version") bundled by clients/js/build.sh; do not edit. */" \
    --outfile="$out/openai-agents-realtime.js"

"$esbuild" src/index.js --bundle --format=esm --platform=browser --target=es2022 \
  --external:@openai/agents-realtime --log-level=warning \
  --banner:js="/* ekmint client $(node -p "require('./package.json').version") bundled by clients/js/build.sh from clients/js/src; do not edit. */" \
  --outfile="$out/ekmint-client.js"
