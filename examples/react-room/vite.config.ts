import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
  resolve: {
    // @switchyard/client is a link to ../../client (a file: dependency), so its
    // files live outside this folder: without dedupe, its `import 'graphql-ws'`
    // would resolve from there, and the page would carry two graphql-ws copies.
    dedupe: ['graphql-ws'],
  },
  server: {
    // The linked package's files (../../client/dist) may be served by the dev server.
    fs: { allow: ['.', '../../client'] },
  },
});
