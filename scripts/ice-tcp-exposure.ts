/**
 * npm run ice-tcp-exposure -- [connections] [seconds]: measures what idle
 * TCP connections to a worker's ICE-TCP port cost. It starts a node on
 * loopback, opens that many TCP connections that never send a byte (as an
 * attacker would), and reports the worker's file descriptors and memory,
 * and how many of the connections the worker still holds after the wait.
 * mediasoup (3.18 to 3.32) has no timeout for TCP connections that do not complete
 * ICE: see docs/security.md for the host-level mitigation and RTC_TCP.
 */
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { startTestServer } from '../test/helpers/server.js';

const count = Number(process.argv[2] ?? 400);
const seconds = Number(process.argv[3] ?? 30);
const node = await startTestServer({ WORKERS: '1' });
const worker = node.pool.workers[0]!;
const pid = worker.worker.pid;
const port = node.config.rtcPort;
const fds = () => readdirSync(`/proc/${pid}/fd`).length;
const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

const before = { fds: fds(), rss: rssKb() };
const sockets: net.Socket[] = [];
let closedByServer = 0;
for (let i = 0; i < count; i += 1) {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  socket.on('close', () => (closedByServer += 1));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()).once('error', () => resolve()));
  sockets.push(socket);
}
const opened = { fds: fds(), rss: rssKb() };
await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
const after = { fds: fds(), rss: rssKb() };
console.log(`| idle TCP connections opened | ${count} |`);
console.log(`| worker fds before / after opening / after ${seconds} s | ${before.fds} / ${opened.fds} / ${after.fds} |`);
console.log(`| worker RSS before / after ${seconds} s (KB) | ${before.rss} / ${after.rss} (+${((after.rss - before.rss) / count).toFixed(1)} KB per connection) |`);
console.log(`| connections the worker closed within ${seconds} s | ${closedByServer} |`);
for (const socket of sockets) socket.destroy();
await node.stop();
