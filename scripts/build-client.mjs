/**
 * Builds the browser SDK and the room demo (part of `npm run build`):
 *
 *   dist/client/switchyard.js        the SDK, one ESM file (graphql-ws bundled in), served at /sdk/switchyard.js
 *   dist/client/demo/                 the demo page, its script and styles, served at /demo/
 *   client/dist/                      the npm package @switchyard/client (client/package.json): one ES module
 *                                     per source file, .d.ts and source maps; graphql-ws stays an import
 *
 * The demo imports the SDK as "@switchyard/client", which the build points at
 * the built /sdk/switchyard.js: the page runs the same file applications load.
 *
 * `node scripts/build-client.mjs` builds all three; `--package` only the
 * package (client/package.json's prepack, so `npm pack` never packs a stale build).
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
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

/**
 * The package's build: tsc, not esbuild, because it emits the declarations
 * (with declaration maps into the shipped src/) along with the modules.
 * Unbundled, so an application's bundler shares graphql-ws with its own
 * GraphQL client and drops what it does not import (sideEffects: false).
 */
export async function buildClientPackage() {
  const packageOut = join(root, 'client/dist');
  // A source file removed since the last build must not linger in the package.
  await rm(packageOut, { recursive: true, force: true });
  const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
  try {
    await promisify(execFile)(process.execPath, [tsc, '-p', join(root, 'client/tsconfig.package.json')], { cwd: root });
  } catch (error) {
    throw new Error(`client package build failed:\n${error.stdout ?? ''}${error.stderr ?? ''}`, { cause: error });
  }
  return packageOut;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (!process.argv.includes('--package')) await buildClient();
  await buildClientPackage();
}
