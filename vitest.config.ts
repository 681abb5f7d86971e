import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql ships CJS and ESM builds; Node (and so Pothos) loads the CJS one.
    // Vite would pick the ESM one for our sources: two graphql realms fail.
    alias: { graphql: require.resolve('graphql') },
  },
  test: {
    include: ['test/**/*.test.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    // Native WebRTC (libwebrtc) and mediasoup workers live best in their own processes.
    pool: 'forks',
    // Media tests are CPU-bound on a 2-core machine: one file at a time keeps timings honest.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
