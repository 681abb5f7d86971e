import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { loadNftRuleset } from './packetLoss.js';

const run = promisify(execFile);

/** A rate limit on one UDP flow on this machine, made by the test and removed by it. */
export interface RateLimit {
  /** The nftables table that holds it (inet family). */
  readonly table: string;
  /** What the limit has dropped so far. */
  dropped(): Promise<{ packets: number; bytes: number }>;
  remove(): Promise<void>;
}

/**
 * Polices the UDP packets to or from local port `port` to `kbytesPerSecond`
 * (kilobytes, 1000 bytes, a second) with nftables: what goes over the rate is
 * dropped at once, as a policer on a mobile or DSL link does (no queue, so no
 * added delay: the loss is the only signal). Same pattern as dropUdp
 * (packetLoss.ts): a table of its own (`switchyard_rate_<id>`) hooked on
 * input, so loopback traffic is policed once on its way in and nothing else
 * on the machine is touched. Root only. `burstKbytes` is the bucket size
 * (nftables' default when absent).
 */
export async function limitUdpRate(options: { port: number; match: 'from' | 'to'; kbytesPerSecond: number; burstKbytes?: number }): Promise<RateLimit> {
  if (process.getuid?.() !== 0) throw new Error('the rate limit is an nftables rule: run the tests as root (CI does)');
  const { port, match, kbytesPerSecond, burstKbytes } = options;
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`limitUdpRate: bad port ${port}`);
  if (!Number.isInteger(kbytesPerSecond) || kbytesPerSecond <= 0) throw new Error(`limitUdpRate: kbytesPerSecond must be a positive integer, not ${kbytesPerSecond}`);
  if (burstKbytes !== undefined && !(Number.isInteger(burstKbytes) && burstKbytes > 0)) throw new Error(`limitUdpRate: bad burstKbytes ${burstKbytes}`);
  const table = `switchyard_rate_${randomBytes(4).toString('hex')}`;
  const burst = burstKbytes !== undefined ? ` burst ${burstKbytes} kbytes` : '';
  await loadNftRuleset(
    [
      `table inet ${table} {`,
      '  chain input {',
      '    type filter hook input priority 0; policy accept;',
      `    udp ${match === 'from' ? 'sport' : 'dport'} ${port} limit rate over ${kbytesPerSecond} kbytes/second${burst} counter drop`,
      '  }',
      '}',
    ].join('\n'),
  );
  return {
    table,
    async dropped() {
      const { stdout } = await run('nft', ['-j', 'list', 'chain', 'inet', table, 'input']);
      const items = (JSON.parse(stdout) as { nftables?: { rule?: { expr?: { counter?: { packets: number; bytes: number } }[] } }[] }).nftables ?? [];
      const counter = items.flatMap((item) => item.rule?.expr ?? []).find((expr) => expr.counter)?.counter;
      return { packets: counter?.packets ?? 0, bytes: counter?.bytes ?? 0 };
    },
    remove: async () => void (await run('nft', ['delete', 'table', 'inet', table]).catch(() => undefined)),
  };
}

/** A token-bucket shaper on one network device, made by the test and removed by it. */
export interface Shaper {
  readonly dev: string;
  /** The qdisc's own counters: what it sent, dropped (queue full) and held back (overlimits). */
  stats(): Promise<{ packets: number; bytes: number; drops: number; overlimits: number }>;
  remove(): Promise<void>;
}

/**
 * Shapes what leaves `dev` to `rateKbit` with a tbf qdisc (the kernel here
 * has tbf but no netem): above the rate packets queue, for up to `latencyMs`
 * of queue, and only what overflows that is dropped. A deep queue makes a
 * link whose only congestion signal is delay, where the nftables policer
 * (limitUdpRate) makes one whose only signal is loss. Root only; `dev` is a
 * device the test made (a veth of makeTestHosts), whose removal removes
 * this too.
 */
export async function shapeEgress(options: { dev: string; rateKbit: number; latencyMs: number; burstBytes?: number }): Promise<Shaper> {
  if (process.getuid?.() !== 0) throw new Error('the shaper is a tc qdisc: run the tests as root (CI does)');
  const { dev, rateKbit, latencyMs, burstBytes = 16_384 } = options;
  if (!/^[\w.-]{1,15}$/.test(dev)) throw new Error(`shapeEgress: bad device name ${dev}`);
  await run('tc', ['qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate', `${rateKbit}kbit`, 'burst', String(burstBytes), 'latency', `${latencyMs}ms`]);
  return {
    dev,
    async stats() {
      const { stdout } = await run('tc', ['-s', '-j', 'qdisc', 'show', 'dev', dev]);
      const tbf = (JSON.parse(stdout) as { kind: string; packets?: number; bytes?: number; drops?: number; overlimits?: number }[]).find((q) => q.kind === 'tbf');
      return { packets: tbf?.packets ?? 0, bytes: tbf?.bytes ?? 0, drops: tbf?.drops ?? 0, overlimits: tbf?.overlimits ?? 0 };
    },
    remove: async () => void (await run('tc', ['qdisc', 'del', 'dev', dev, 'root']).catch(() => undefined)),
  };
}
