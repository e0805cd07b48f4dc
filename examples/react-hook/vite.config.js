import { defineConfig } from 'vite';

export default defineConfig({
  // JSX through Vite's own esbuild step; @vitejs/plugin-react adds Fast Refresh, not needed here.
  esbuild: { jsx: 'automatic' },
  build: { chunkSizeWarningLimit: 1500 },
  server: { port: 5173, strictPort: true },
});
