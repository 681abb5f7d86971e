import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * scripts/install-node-runtime.mjs decides from the machine's Node (the one
 * running npm, npm_node_execpath), not from the Node it runs on: on a second
 * `npm install` npm puts the script's own link first on its PATH, so it runs
 * on the fetched Node 24 and once removed the link it had made, leaving every
 * later npm script on the machine's Node 20.
 */
describe('install-node-runtime', () => {
  const project = mkdtempSync(join(tmpdir(), 'node-runtime-'));
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  mkdirSync(join(project, 'scripts'));
  copyFileSync(resolve('scripts/install-node-runtime.mjs'), join(project, 'scripts', 'install-node-runtime.mjs'));
  // The "fetched" runtime, already in place so nothing is downloaded: a wrapper around this Node.
  const runtimeBin = join(project, 'node_modules', '.switchyard-node', 'node_modules', `node-${process.platform}-${process.arch}`, 'bin', 'node');
  mkdirSync(join(runtimeBin, '..'), { recursive: true });
  writeFileSync(runtimeBin, `#!/bin/sh\nexec '${process.execPath}' "$@"\n`);
  chmodSync(runtimeBin, 0o755);
  const fakeNode = (version: string) => {
    const path = join(project, `node-${version}`);
    writeFileSync(path, `#!/bin/sh\necho ${version}\n`);
    chmodSync(path, 0o755);
    return path;
  };
  const binLink = join(project, 'node_modules', '.bin', 'node');
  const linked = () => existsSync(binLink) && lstatSync(binLink).isSymbolicLink();
  const install = (machineNode: string) =>
    execFileSync(process.execPath, [join(project, 'scripts', 'install-node-runtime.mjs')], {
      encoding: 'utf8',
      env: { ...process.env, npm_node_execpath: machineNode, npm_execpath: '' },
    });

  it('links the fetched Node on an old machine, and keeps the link on the next install run from it', () => {
    const oldNode = fakeNode('v20.20.2');
    expect(install(oldNode)).toMatch(/Node 20\.20\.2 is older than 22: using the fetched Node v\d+/);
    expect(linked()).toBe(true);
    // This script runs on Node >= 22 here, as it does when npm runs it through the link.
    expect(install(oldNode)).toContain('npm scripts run on Node');
    expect(linked()).toBe(true);
  });

  it('removes the link once the machine itself has a supported Node', () => {
    expect(linked()).toBe(true);
    expect(install(fakeNode('v24.1.0'))).toContain('Node 24.1.0 is supported: removed the link');
    expect(linked()).toBe(false);
  });
});
