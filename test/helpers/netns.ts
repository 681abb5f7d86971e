import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Test hosts: network namespaces on one bridge, each with its own address, made and removed by the test. */
export interface TestHosts {
  /** The bridge's address, in the host's own namespace (reachable from every test host). */
  readonly bridgeIp: string;
  readonly hosts: { netns: string; ip: string }[];
  remove(): Promise<void>;
}

async function ip(...args: string[]): Promise<void> {
  await run('ip', args);
}

/**
 * `count` test hosts: namespaces `sy<id>-<i>` with a veth each on a bridge
 * `sy<id>` in the host's namespace, addresses 10.231.<n>.11, .12, … and the
 * bridge 10.231.<n>.1. Root only (ip netns). The addresses exist only on
 * this machine, inside what the test made.
 */
export async function makeTestHosts(count: number): Promise<TestHosts> {
  if (process.getuid?.() !== 0) throw new Error('the test hosts are network namespaces: run the tests as root (CI does)');
  const id = randomBytes(3).toString('hex');
  const subnet = 100 + (parseInt(id, 16) % 150);
  const bridge = `sy${id}`;
  const bridgeIp = `10.231.${subnet}.1`;
  const hosts: { netns: string; ip: string }[] = [];
  const remove = async () => {
    for (const host of hosts) await ip('netns', 'del', host.netns).catch(() => undefined);
    await ip('link', 'del', bridge).catch(() => undefined);
  };
  try {
    await ip('link', 'add', bridge, 'type', 'bridge');
    await ip('addr', 'add', `${bridgeIp}/24`, 'dev', bridge);
    await ip('link', 'set', bridge, 'up');
    for (let i = 0; i < count; i += 1) {
      const netns = `${bridge}-${i}`;
      const veth = `${bridge}v${i}`;
      const address = `10.231.${subnet}.${11 + i}`;
      await ip('netns', 'add', netns);
      hosts.push({ netns, ip: address });
      await ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
      await ip('link', 'set', veth, 'master', bridge);
      await ip('link', 'set', veth, 'up');
      await ip('-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
      await ip('-n', netns, 'link', 'set', 'eth0', 'up');
      await ip('-n', netns, 'link', 'set', 'lo', 'up');
    }
  } catch (error) {
    await remove();
    throw error;
  }
  return { bridgeIp, hosts, remove };
}
