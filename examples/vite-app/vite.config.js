import { defineConfig } from 'vite';

export default defineConfig({
  // The Agents SDK is most of the bundle (about 0.9 MB minified); that is expected.
  build: { chunkSizeWarningLimit: 1500 },
  server: { port: 5173, strictPort: true },
});
