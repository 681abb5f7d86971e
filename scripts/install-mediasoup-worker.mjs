#!/usr/bin/env node
// Leaves a working mediasoup worker binary where mediasoup looks for it
// (node_modules/mediasoup/worker/out/Release/mediasoup-worker). Run by the
// root package's postinstall.
//
// package.json denies mediasoup's own install script (allowScripts), because
// offline it fails the whole `npm install`: it downloads a prebuilt worker
// from GitHub, then meson from PyPI, then meson's subprojects. Instead, in order:
//   1. a worker that is already in place (or MEDIASOUP_WORKER_BIN) is kept;
//   2. a build cached outside the clone, keyed by mediasoup version, platform,
//      distribution and a digest of the build kit, is copied in (seconds);
//   3. mediasoup's own prebuilt download is tried (works with internet);
//   4. the worker is built against Debian's packages (scripts/mediasoup-worker)
//      and cached for the next install.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const kitDir = join(projectRoot, 'scripts', 'mediasoup-worker');
const require = createRequire(join(projectRoot, 'package.json'));

/** Debian packages the source build needs (their runtime libraries come with them). */
const BUILD_PACKAGES = [
  'build-essential', 'pkg-config', 'meson', 'ninja-build', 'libssl-dev', 'libuv1-dev',
  'libsrtp2-dev', 'flatbuffers-compiler', 'libflatbuffers-dev',
];

/** main.cpp exits with 41 when started without its parent's channel: the binary runs. */
const WORKER_SELF_TEST_EXIT_CODE = 41;

const log = (msg) => console.log(`[mediasoup-worker] ${msg}`);
const fail = (msg) => {
  console.error(`[mediasoup-worker] ERROR: ${msg}`);
  process.exit(1);
};

function mediasoupPackageDir() {
  let dir;
  try {
    // mediasoup's exports map hides package.json: resolve its entry point and walk up.
    dir = dirname(require.resolve('mediasoup'));
  } catch {
    fail('mediasoup is not installed; run npm install from the project root');
  }
  while (!existsSync(join(dir, 'package.json')) || JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name !== 'mediasoup') {
    const parent = dirname(dir);
    if (parent === dir) fail('cannot find the mediasoup package directory');
    dir = parent;
  }
  return dir;
}

function workerRuns(bin) {
  if (!existsSync(bin)) return false;
  const env = { ...process.env };
  delete env.MEDIASOUP_VERSION;
  const res = spawnSync(bin, [], { env, stdio: 'ignore', timeout: 10_000 });
  return res.status === WORKER_SELF_TEST_EXIT_CODE;
}

function osRelease() {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    const field = (k) => text.match(new RegExp(`^${k}="?([^"\\n]*)"?`, 'm'))?.[1] ?? 'unknown';
    return { id: field('ID'), versionId: field('VERSION_ID') };
  } catch {
    return { id: 'unknown', versionId: 'unknown' };
  }
}

/** A digest of the build kit, so that a change to it never reuses an old build. */
function kitDigest() {
  const hash = createHash('sha256');
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else hash.update(relative(kitDir, path)).update('\0').update(readFileSync(path)).update('\0');
    }
  };
  walk(kitDir);
  return hash.digest('hex').slice(0, 12);
}

function cachePath(version) {
  const base = process.env.SWITCHYARD_CACHE_DIR
    ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'switchyard');
  const { id, versionId } = osRelease();
  const key = `${version}-${process.platform}-${process.arch}-${id}${versionId}-kit${kitDigest()}`;
  return join(base, 'mediasoup-worker', key, 'mediasoup-worker');
}

/** Beside an installed worker: which cached build it came from. */
const markerOf = (target) => `${target}.switchyard-build`;

function installInto(target, source) {
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  copyFileSync(source, tmp);
  chmodSync(tmp, 0o755);
  renameSync(tmp, target);
  writeFileSync(markerOf(target), `${source}\n`);
}

/** A worker in place is kept unless it is an older build of ours. */
function keepInstalled(target, cached) {
  if (!workerRuns(target)) return false;
  if (!existsSync(markerOf(target))) return true;
  return readFileSync(markerOf(target), 'utf8').trim() === cached;
}

function tryMediasoupPrebuilt(pkgDir) {
  if (process.env.SWITCHYARD_SKIP_PREBUILT) return false;
  log('trying mediasoup\'s prebuilt worker download');
  // PYTHON=false makes mediasoup's fallback (a pip-driven build) fail at once
  // instead of spending minutes on network timeouts; we build ourselves below.
  const res = spawnSync(process.execPath, ['npm-scripts.mjs', 'postinstall'], {
    cwd: pkgDir,
    env: { ...process.env, PYTHON: 'false', MEDIASOUP_WORKER_BIN: '' },
    stdio: 'ignore',
    timeout: 120_000,
  });
  return res.status === 0;
}

function missingDebianPackages() {
  return BUILD_PACKAGES.filter((name) => {
    const res = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' });
    return res.status !== 0 || !res.stdout.includes('install ok installed');
  });
}

function ensureDebianPackages() {
  if (spawnSync('dpkg-query', ['--version'], { stdio: 'ignore' }).status !== 0) {
    fail(
      'no mediasoup worker could be downloaded and this is not a Debian-like system; '
      + 'build the worker by hand and set MEDIASOUP_WORKER_BIN to its path',
    );
  }
  const missing = missingDebianPackages();
  if (missing.length === 0) return;
  const line = `apt-get install -y ${missing.join(' ')}`;
  const isRoot = process.getuid?.() === 0;
  const nonInteractive = Boolean(process.env.CI) || !process.stdin.isTTY;
  if (!(isRoot && nonInteractive)) {
    fail(`the mediasoup worker must be built here and needs Debian packages. Run:\n  sudo ${line}\nthen npm install again.`);
  }
  log(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let res = spawnSync('apt-get', ['install', '-y', '-q', ...missing], { stdio: 'inherit', env });
  if (res.status !== 0) {
    // A fresh machine may not have package lists yet.
    spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
    res = spawnSync('apt-get', ['install', '-y', '-q', ...missing], { stdio: 'inherit', env });
  }
  if (res.status !== 0) fail(`could not install the build packages; run: ${line}`);
}

function buildFromSource(pkgDir, outBin) {
  ensureDebianPackages();
  log(`building the worker against Debian packages (a few minutes on 2 cores) into ${outBin}`);
  const started = Date.now();
  try {
    execFileSync('bash', [join(kitDir, 'build.sh'), pkgDir, outBin], {
      stdio: process.env.SWITCHYARD_BUILD_VERBOSE ? 'inherit' : ['ignore', 'ignore', 'inherit'],
    });
  } catch {
    fail('building the mediasoup worker failed (set SWITCHYARD_BUILD_VERBOSE=1 for the full log)');
  }
  log(`built in ${Math.round((Date.now() - started) / 1000)} s`);
}

function main() {
  const pkgDir = mediasoupPackageDir();
  const { version } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  const target = join(pkgDir, 'worker', 'out', 'Release', 'mediasoup-worker');

  if (process.env.MEDIASOUP_WORKER_BIN) {
    if (!workerRuns(process.env.MEDIASOUP_WORKER_BIN)) fail(`MEDIASOUP_WORKER_BIN=${process.env.MEDIASOUP_WORKER_BIN} does not run`);
    log(`using MEDIASOUP_WORKER_BIN=${process.env.MEDIASOUP_WORKER_BIN}`);
    return;
  }
  const cached = cachePath(version);
  if (keepInstalled(target, cached)) {
    log(`worker ${version} already in place`);
    return;
  }
  if (workerRuns(cached)) {
    installInto(target, cached);
    log(`worker ${version} copied from cache ${cached}`);
    return;
  }
  if (tryMediasoupPrebuilt(pkgDir) && workerRuns(target)) {
    log(`worker ${version} from mediasoup's prebuilt download`);
    return;
  }
  buildFromSource(pkgDir, cached);
  if (!workerRuns(cached)) fail(`the built worker at ${cached} does not run`);
  installInto(target, cached);
  log(`worker ${version} built, cached at ${cached} and installed`);
}

main();
