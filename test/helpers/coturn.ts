import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeRtcPortRange } from './ports.js';

export interface TestCoturn {
  /** The turn: URL clients use (UDP to the relay). */
  readonly url: string;
  readonly port: number;
  /** Everything coturn printed so far (allocations show the username that asked). */
  log(): string;
  stop(): Promise<void>;
}

/** A STUN Binding Request (RFC 5389): header only, magic cookie, random transaction id. */
function bindingRequest(): Buffer {
  const message = Buffer.alloc(20);
  message.writeUInt16BE(0x0001, 0);
  message.writeUInt16BE(0, 2);
  message.writeUInt32BE(0x2112a442, 4);
  randomBytes(12).copy(message, 8);
  return message;
}

/** True when a STUN server answers a Binding Request on this port within `ms`. */
async function answersStun(port: number, ms: number): Promise<boolean> {
  const socket = createSocket('udp4');
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(false), ms);
    const finish = (answered: boolean) => {
      clearTimeout(timer);
      socket.close();
      resolve(answered);
    };
    socket.on('message', (reply) => finish(reply.length >= 20 && reply.readUInt16BE(0) === 0x0101));
    socket.on('error', () => finish(false));
    socket.send(bindingRequest(), port, '127.0.0.1');
  });
}

/**
 * Debian's coturn, started for one test on free loopback ports, as an
 * operator runs it beside Switchyard: `use-auth-secret` with a shared secret
 * (the TURN REST API credentials Switchyard hands out). Loopback peers are
 * allowed because the SFU is on 127.0.0.1 here; production must not.
 */
export async function startCoturn(secret: string): Promise<TestCoturn> {
  const binary = process.env.TURNSERVER ?? '/usr/bin/turnserver';
  if (!existsSync(binary)) throw new Error(`no turnserver at ${binary}: apt-get install coturn (or set TURNSERVER)`);
  const base = await freeRtcPortRange(41);
  // The first port listens; the next 40 are the relay's ports.
  const port = base;
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-coturn-'));
  let output = '';
  const child: ChildProcess = spawn(
    binary,
    [
      '-n',
      `--listening-ip=127.0.0.1`,
      `--listening-port=${port}`,
      `--relay-ip=127.0.0.1`,
      `--min-port=${base + 1}`,
      `--max-port=${base + 40}`,
      '--use-auth-secret',
      `--static-auth-secret=${secret}`,
      '--realm=switchyard.test',
      '--allow-loopback-peers',
      '--no-cli',
      '--no-tls',
      '--no-dtls',
      '--no-tcp-relay',
      '--log-file=stdout',
      '--simple-log',
      '--verbose',
      `--pidfile=${join(dir, 'turnserver.pid')}`,
      `--userdb=${join(dir, 'turndb.sqlite')}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 10_000;
  while (!(await answersStun(port, 200))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`coturn did not answer STUN on 127.0.0.1:${port}:\n${output.slice(-2000)}`);
    }
  }
  return { url: `turn:127.0.0.1:${port}?transport=udp`, port, log: () => output, stop };
}
