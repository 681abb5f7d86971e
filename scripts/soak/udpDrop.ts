/**
 * Every UDP packet from a peer's local ports dropped: how the silent journey
 * makes a peer vanish without closing anything (a closed laptop lid). The
 * rule is test/helpers/packetLoss.ts's dropUdp at 100 %, over a set of ports
 * (libwebrtc moves to another of its candidates when one goes quiet); it is
 * written again here also because a soak must not leave rules behind
 * however it ends, which needs the table's name:
 * - each table is named after this process (switchyard_soak_<pid>_<n>);
 * - the tables still there are deleted synchronously on exit, SIGINT and SIGTERM;
 * - a crash runs none of that (libwebrtc can segfault), so each soak first
 *   deletes the tables of soaks whose process is gone.
 */
import { execFile, execFileSync } from 'node:child_process';

const PREFIX = 'switchyard_soak_';
const active = new Set<string>();
let counter = 0;

export interface UdpDrop {
  remove(): Promise<void>;
}

/** null when rules can be made here; otherwise why not (the silent journey is then skipped). */
export function udpDropUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'not root: making a peer vanish takes an nftables rule';
  try {
    execFileSync('nft', ['list', 'tables'], { stdio: 'pipe' });
    return null;
  } catch (error) {
    return `nft list tables failed (${(error as Error).message.split('\n')[0]}): install Debian's nftables`;
  }
}

/** Deletes the tables of soaks whose process is gone; returns their names. */
export function sweepStaleTables(): string[] {
  const swept: string[] = [];
  const listing = execFileSync('nft', ['list', 'tables'], { stdio: 'pipe' }).toString();
  for (const match of listing.matchAll(new RegExp(`^table inet (${PREFIX}(\\d+)_\\d+)$`, 'gm'))) {
    const [, table, pid] = match;
    if (!table || alive(Number(pid))) continue;
    deleteSync(table);
    swept.push(table);
  }
  return swept;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Drops every UDP packet whose source is one of the local `ports` (on input: loopback traffic is dropped once). */
export async function dropUdpFrom(ports: readonly number[]): Promise<UdpDrop> {
  if (ports.length === 0 || ports.some((port) => !Number.isInteger(port) || port <= 0 || port > 65535)) throw new Error(`dropUdpFrom: bad ports ${JSON.stringify(ports)}`);
  counter += 1;
  const table = `${PREFIX}${process.pid}_${counter}`;
  const ruleset = [
    `table inet ${table} {`,
    '  chain input {',
    '    type filter hook input priority 0; policy accept;',
    `    udp sport { ${ports.join(', ')} } drop`,
    '  }',
    '}',
  ].join('\n');
  // Counted before nft runs: a signal while it runs still finds the table to delete.
  active.add(table);
  installCleanup();
  try {
    await new Promise<void>((resolve, reject) => {
      const child = execFile('nft', ['-f', '-'], (error, _stdout, stderr) => (error ? reject(new Error(`nft -f: ${stderr.trim() || error.message}`)) : resolve()));
      child.stdin?.end(ruleset);
    });
  } catch (error) {
    forget(table);
    throw error;
  }
  return {
    remove: async () => {
      if (!active.has(table)) return;
      await new Promise<void>((resolve) => execFile('nft', ['delete', 'table', 'inet', table], () => resolve()));
      // Forgotten once deleted: a signal meanwhile deletes it again, harmlessly.
      forget(table);
    },
  };
}

/** Deletes every table this process still has. */
export function removeAllSync(): void {
  for (const table of [...active]) {
    active.delete(table);
    deleteSync(table);
  }
}

function deleteSync(table: string): void {
  try {
    execFileSync('nft', ['delete', 'table', 'inet', table], { stdio: 'pipe' });
  } catch {
    // Already gone.
  }
}

function forget(table: string): void {
  active.delete(table);
  if (active.size === 0) uninstallCleanup();
}

const onSignal = (signal: NodeJS.Signals) => {
  removeAllSync();
  uninstallCleanup();
  // What the signal would have done without this handler (or what the other handlers do).
  process.kill(process.pid, signal);
};
let installed = false;

function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.on('exit', removeAllSync);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

function uninstallCleanup(): void {
  if (!installed) return;
  installed = false;
  process.off('exit', removeAllSync);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}
