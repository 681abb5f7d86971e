import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Loads an nftables ruleset with `nft -f -` (Debian's nftables; root). */
export async function loadNftRuleset(ruleset: string): Promise<void> {
  const child = execFile('nft', ['-f', '-']);
  const done = new Promise<void>((resolve, reject) => {
    let stderr = '';
    child.stderr?.on('data', (chunk) => (stderr += chunk));
    child.on('error', (error) => reject(new Error(`nft (install Debian's nftables): ${error.message}`)));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`nft -f exited ${code}: ${stderr.trim()}`))));
  });
  child.stdin?.end(ruleset);
  await done;
}

/** Random loss of one UDP flow on this machine, made by the test and removed by it. */
export interface PacketLoss {
  remove(): Promise<void>;
}

/**
 * Drops `percent` % of the UDP packets to or from local port `port`, picked
 * at random, with nftables (Debian's `nftables`; root, as CI runs). The rule
 * lives in a table of its own (`switchyard_loss_<id>`) hooked on input, so
 * loopback traffic is dropped once on its way in and nothing else on the
 * machine is touched. The kernel's netem qdisc would be the usual tool but
 * is not in this machine's kernel; nftables' `numgen random` gives the same
 * independent random loss.
 */
export async function dropUdp(options: { port: number; match: 'from' | 'to'; percent: number }): Promise<PacketLoss> {
  if (process.getuid?.() !== 0) throw new Error('packet loss is an nftables rule: run the tests as root (CI does)');
  const { port, match, percent } = options;
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`dropUdp: bad port ${port}`);
  if (!(percent > 0 && percent <= 100)) throw new Error(`dropUdp: percent must be above 0 and at most 100, not ${percent}`);
  const table = `switchyard_loss_${randomBytes(4).toString('hex')}`;
  const ruleset = [
    `table inet ${table} {`,
    '  chain input {',
    '    type filter hook input priority 0; policy accept;',
    // 100 %: the peer vanishes, as a closed laptop lid does, without closing anything.
    `    udp ${match === 'from' ? 'sport' : 'dport'} ${port}${percent < 100 ? ` numgen random mod 100 < ${Math.round(percent)}` : ''} drop`,
    '  }',
    '}',
  ].join('\n');
  await loadNftRuleset(ruleset);
  return { remove: async () => void (await run('nft', ['delete', 'table', 'inet', table]).catch(() => undefined)) };
}

/** The local UDP port of a libwebrtc peer's selected ICE candidate pair (from getStats). */
export async function selectedLocalPort(pc: RTCPeerConnection): Promise<number> {
  const stats = new Map<string, Record<string, unknown>>();
  (await pc.getStats()).forEach((s: Record<string, unknown>) => stats.set(s.id as string, s));
  const transport = [...stats.values()].find((s) => s.type === 'transport' && s.selectedCandidatePairId);
  const pair =
    (transport && stats.get(transport.selectedCandidatePairId as string)) ??
    [...stats.values()].find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
  const local = pair && stats.get(pair.localCandidateId as string);
  const port = Number(local?.port);
  if (!port) throw new Error('no selected candidate pair in getStats');
  return port;
}

/**
 * Every local UDP port a libwebrtc peer gathered a candidate on. A peer whose
 * selected pair goes silent tries its other pairs, so making a peer vanish
 * means dropping what it sends from each of them.
 */
export async function localUdpPorts(pc: RTCPeerConnection): Promise<number[]> {
  const ports = new Set<number>();
  (await pc.getStats()).forEach((s: Record<string, unknown>) => {
    if (s.type === 'local-candidate' && s.protocol === 'udp' && Number(s.port) > 0) ports.add(Number(s.port));
  });
  if (ports.size === 0) throw new Error('no local UDP candidates in getStats');
  return [...ports];
}
