import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The browser SDK as an npm package, installed the way an application
 * installs it: `npm pack` in client/ (its prepack builds client/dist), the
 * tarball installed into a fresh project, and a strict TypeScript program
 * that imports "@switchyard/client" type-checked against what the tarball
 * ships, under both module resolutions applications use with bundlers
 * (bundler) and with Node (nodenext).
 */
const ROOT = join(import.meta.dirname, '../..');
const run = promisify(execFile);
// The root's TypeScript: already in npm's cache, so the install needs no network.
const TYPESCRIPT = (createRequire(import.meta.url)('typescript/package.json') as { version: string }).version;

/** An application's code: every import and call is typed by the package; the @ts-expect-error lines fail if anything is `any`. */
const APP = `import { Switchyard, SwitchyardError, type ConnectionQuality, type TrackInfo } from '@switchyard/client';

export async function join(url: string, camera: MediaStreamTrack, show: (track: MediaStreamTrack) => void): Promise<Switchyard> {
  const sfu = await Switchyard.connect({ url, token: async () => 'a client token' });
  const local = await sfu.push(camera, { name: 'camera', tags: ['room:lobby'] });
  const mid: string = local.mid;
  sfu.on('qualitychange', ({ quality }) => {
    const level: ConnectionQuality = quality;
    console.log(mid, level);
  });
  sfu.on('trackended', ({ mid: ended, track }) => console.log(ended.length, track?.kind));
  await sfu.watchTracks({ tags: ['room:lobby'] }, async (tracks: TrackInfo[]) => {
    const keys: string[] = tracks.map((t) => t.id);
    console.log(keys);
    for (const t of tracks) if (t.kind !== 'DATA' && t.sessionId !== sfu.sessionId) show(await sfu.pull(t.sessionId, t.name));
  });
  // @ts-expect-error: a track name is no MediaStreamTrack
  await sfu.push('camera', { name: 'camera' });
  // @ts-expect-error: the event's quality is a level's name, not a number
  sfu.on('qualitychange', ({ quality }: { quality: number }) => console.log(quality + 1));
  // @ts-expect-error: the constructor is private: sessions come from Switchyard.connect
  new Switchyard('session', new RTCPeerConnection(), undefined, false);
  return sfu;
}

export const isForbidden = (error: unknown): boolean => error instanceof SwitchyardError && error.code === 'FORBIDDEN';
`;

const tsconfig = (module: 'ESNext' | 'NodeNext', moduleResolution: 'Bundler' | 'NodeNext') =>
  JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      module,
      moduleResolution,
      lib: ['ES2022', 'DOM', 'DOM.Iterable'],
      types: [],
      strict: true,
      noEmit: true,
      // The package's own .d.ts are checked too, under the application's strict settings.
      skipLibCheck: false,
    },
    files: ['app.ts'],
  });

let app: string;
let packed: { filename: string; files: { path: string }[] };

/** tsc of the fresh project, its exit code and what it printed. */
async function typecheck(config: string): Promise<{ code: number; output: string }> {
  const tsc = join(app, 'node_modules/typescript/bin/tsc');
  try {
    const { stdout } = await run(process.execPath, [tsc, '-p', config], { cwd: app });
    return { code: 0, output: stdout };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? 1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

beforeAll(async () => {
  app = mkdtempSync(join(tmpdir(), 'switchyard-sdk-app-'));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', app], { cwd: join(ROOT, 'client') });
  packed = (JSON.parse(stdout) as (typeof packed)[])[0]!;
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'an-app', private: true, type: 'module' }));
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(app, packed.filename), `typescript@${TYPESCRIPT}`], { cwd: app });
  writeFileSync(join(app, 'app.ts'), APP);
  writeFileSync(join(app, 'tsconfig.bundler.json'), tsconfig('ESNext', 'Bundler'));
  writeFileSync(join(app, 'tsconfig.nodenext.json'), tsconfig('NodeNext', 'NodeNext'));
}, 180_000);

afterAll(() => {
  if (app) rmSync(app, { recursive: true, force: true });
});

describe('the SDK as an npm package', () => {
  it('packs the modules, their declarations and the README, not the demo', () => {
    const paths = packed.files.map((f) => f.path);
    expect(packed.filename).toMatch(/^switchyard-client-\d+\.\d+\.\d+\.tgz$/);
    expect(paths).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/Switchyard.js', 'dist/Switchyard.d.ts']));
    expect(paths.filter((p) => p.startsWith('demo/') || p.includes('tsconfig'))).toEqual([]);
  });

  it('installs with graphql-ws as a dependency of its own', () => {
    const installed = JSON.parse(readFileSync(join(app, 'node_modules/@switchyard/client/package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(installed.dependencies)).toEqual(['graphql-ws']);
    expect(() => readFileSync(join(app, 'node_modules/graphql-ws/package.json'))).not.toThrow();
  });

  it('type-checks a strict program that imports it, with moduleResolution bundler and nodenext', { timeout: 60_000 }, async () => {
    for (const config of ['tsconfig.bundler.json', 'tsconfig.nodenext.json']) {
      const { code, output } = await typecheck(config);
      expect(output, config).toBe('');
      expect(code, config).toBe(0);
    }
  });

  it('loads as an ES module by its name (exports, and graphql-ws resolved from the install)', async () => {
    const script = "const sdk = await import('@switchyard/client'); console.log(Object.keys(sdk).sort().join(' '));";
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: app });
    expect(stdout.trim().split(' ')).toEqual(expect.arrayContaining(['Switchyard', 'SwitchyardError', 'OfferRefusedError', 'httpTransport']));
  });

  // Last: it takes the declarations out of the installed copy.
  it('the same program fails to type-check when the package ships no declarations', { timeout: 60_000 }, async () => {
    for (const file of packed.files.filter((f) => f.path.endsWith('.d.ts'))) rmSync(join(app, 'node_modules/@switchyard/client', file.path));
    const { code, output } = await typecheck('tsconfig.bundler.json');
    expect(code).not.toBe(0);
    // TS7016: "Could not find a declaration file for module '@switchyard/client'".
    expect(output).toContain('TS7016');
  });
});
