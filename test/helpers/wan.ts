import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './media.js';

const run = promisify(execFile);
const ip = (...args: string[]) => run('ip', args);
const inNs = (netns: string, ...command: string[]) => run('ip', ['netns', 'exec', netns, ...command]);

/** A test host of a region: a network namespace with its own address. */
export interface WanHost {
  readonly region: number;
  readonly netns: string;
  readonly ip: string;
}

export interface Wan {
  readonly hosts: WanHost[];
  /** The test's own address on the link to the router (reachable from every host without delay): where Redis can listen. */
  readonly hostIp: string;
  remove(): Promise<void>;
}

/**
 * Regions with real delays between them, on one machine (shared/notes/wan.md):
 * `hostsPerRegion[r]` namespaces per region r, each on its region's bridge in
 * a router namespace. Packets between regions are routed into a TUN device
 * whose reader (wan-delay.py) holds them for `oneWayMs["a-b"]`; packets
 * within a region are bridged and never delayed; the test's own namespace
 * reaches every host over a veth, undelayed (clients and Redis are "near").
 * Addresses 10.9.<region>.<11+k>; the router 10.9.<region>.1; the test 10.9.100.1.
 * Root only.
 */
export async function makeWan(hostsPerRegion: number[], oneWayMs: Record<string, number>): Promise<Wan> {
  if (process.getuid?.() !== 0) throw new Error('the WAN is made of network namespaces: run the tests as root (CI does)');
  const id = randomBytes(2).toString('hex');
  const router = `wr${id}`;
  const hosts: WanHost[] = [];
  let delay: ChildProcess | undefined;
  const toRouter = `wh${id}`;
  const remove = async () => {
    delay?.kill('SIGKILL');
    for (const host of hosts) await ip('netns', 'del', host.netns).catch(() => undefined);
    await ip('netns', 'del', router).catch(() => undefined);
    await ip('link', 'del', toRouter).catch(() => undefined);
    await ip('route', 'del', '10.9.0.0/16').catch(() => undefined);
  };
  try {
    await ip('netns', 'add', router);
    await inNs(router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0');
    await ip('-n', router, 'link', 'set', 'lo', 'up');
    // The test's link to the router: undelayed.
    await ip('link', 'add', toRouter, 'type', 'veth', 'peer', 'name', 'up0', 'netns', router);
    await ip('addr', 'add', '10.9.100.1/24', 'dev', toRouter);
    await ip('link', 'set', toRouter, 'up');
    await ip('-n', router, 'addr', 'add', '10.9.100.2/24', 'dev', 'up0');
    await ip('-n', router, 'link', 'set', 'up0', 'up');
    await ip('route', 'add', '10.9.0.0/16', 'via', '10.9.100.2');
    // The delay line: what a region sends to another region goes through the TUN device.
    await ip('-n', router, 'tuntap', 'add', 'dev', 'wan0', 'mode', 'tun');
    await ip('-n', router, 'link', 'set', 'wan0', 'up');
    await inNs(router, 'sysctl', '-qw', 'net.ipv4.conf.wan0.rp_filter=0', 'net.ipv4.conf.wan0.accept_local=1');
    await ip('-n', router, 'route', 'add', 'default', 'dev', 'wan0', 'table', '200');
    for (const [region, count] of hostsPerRegion.entries()) {
      const bridge = `br${region}`;
      await ip('-n', router, 'link', 'add', bridge, 'type', 'bridge');
      await ip('-n', router, 'addr', 'add', `10.9.${region}.1/24`, 'dev', bridge);
      await ip('-n', router, 'link', 'set', bridge, 'up');
      await inNs(router, 'sysctl', '-qw', `net.ipv4.conf.${bridge}.rp_filter=0`);
      // From a region: to the test undelayed, to anywhere else through the delay line.
      await ip('-n', router, 'rule', 'add', 'iif', bridge, 'to', '10.9.100.0/24', 'lookup', 'main', 'priority', '100');
      await ip('-n', router, 'rule', 'add', 'iif', bridge, 'lookup', '200', 'priority', '200');
      for (let k = 0; k < count; k += 1) {
        const netns = `wn${id}-${region}-${k}`;
        const address = `10.9.${region}.${11 + k}`;
        await ip('netns', 'add', netns);
        hosts.push({ region, netns, ip: address });
        await ip('-n', router, 'link', 'add', `v${region}x${k}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
        await ip('-n', router, 'link', 'set', `v${region}x${k}`, 'master', bridge);
        await ip('-n', router, 'link', 'set', `v${region}x${k}`, 'up');
        await ip('-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
        await ip('-n', netns, 'link', 'set', 'eth0', 'up');
        await ip('-n', netns, 'link', 'set', 'lo', 'up');
        await ip('-n', netns, 'route', 'add', 'default', 'via', `10.9.${region}.1`);
      }
    }
    let said = '';
    delay = spawn('ip', ['netns', 'exec', router, 'python3', join(import.meta.dirname, 'wan-delay.py'), 'wan0', JSON.stringify(oneWayMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
    delay.stdout!.on('data', (chunk: Buffer) => (said += chunk.toString()));
    delay.stderr!.on('data', (chunk: Buffer) => (said += chunk.toString()));
    const line = delay;
    await waitFor('the WAN delay line', () => said.includes('ready') || line.exitCode !== null, 5000);
    if (delay.exitCode !== null) throw new Error(`the WAN delay line exited: ${said}`);
  } catch (error) {
    await remove();
    throw error;
  }
  return { hosts, hostIp: '10.9.100.1', remove };
}

/** The round trip between two hosts, measured with a UDP echo inside their namespaces (python3). */
export async function udpRoundTripMs(from: WanHost, to: WanHost): Promise<number> {
  const port = 47_500 + Math.floor(Math.random() * 400);
  const echo = spawn('ip', ['netns', 'exec', to.netns, 'python3', '-c', `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('${to.ip}',${port}))\nprint('ready',flush=True)\nwhile True:\n d,a=s.recvfrom(100)\n s.sendto(d,a)`], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    let said = '';
    echo.stdout!.on('data', (chunk: Buffer) => (said += chunk.toString()));
    await waitFor('the UDP echo', () => said.includes('ready'), 5000);
    const { stdout } = await inNs(
      from.netns,
      'python3',
      '-c',
      `import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(2)\nbest=1e9\nfor i in range(5):\n t=time.monotonic(); s.sendto(b'x',('${to.ip}',${port})); s.recvfrom(100); best=min(best,time.monotonic()-t)\nprint(best*1000)`,
    );
    return Number(stdout.trim());
  } finally {
    echo.kill('SIGKILL');
  }
}
