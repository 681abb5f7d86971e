/**
 * Builds the browser SDK and the room demo with esbuild (part of `npm run build`):
 *
 *   dist/client/switchyard.js        the SDK, one ESM file (graphql-ws bundled in), served at /sdk/switchyard.js
 *   dist/client/demo/                 the demo page, its script and styles, served at /demo/
 *
 * The demo imports the SDK as "@switchyard/client", which the build points at
 * the built /sdk/switchyard.js: the page runs the same file applications load.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist/client');

export async function buildClient({ quiet = false } = {}) {
  const common = { bundle: true, format: 'esm', platform: 'browser', target: 'es2022', sourcemap: true, logLevel: quiet ? 'silent' : 'info' };
  await esbuild.build({ ...common, entryPoints: [join(root, 'client/src/index.ts')], outfile: join(out, 'switchyard.js') });
  await esbuild.build({
    ...common,
    entryPoints: [join(root, 'client/demo/demo.ts')],
    outfile: join(out, 'demo/demo.js'),
    plugins: [
      {
        name: 'built-sdk',
        setup(build) {
          build.onResolve({ filter: /^@switchyard\/client$/ }, () => ({ path: '/sdk/switchyard.js', external: true }));
        },
      },
    ],
  });
  await mkdir(join(out, 'demo'), { recursive: true });
  for (const file of ['index.html', 'demo.css']) await copyFile(join(root, 'client/demo', file), join(out, 'demo', file));
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildClient();
}
