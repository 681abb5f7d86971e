import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { startCall } from '../helpers/call.js';
import { startTestServer } from '../helpers/server.js';

/**
 * mediasoup holds an ICE-TCP connection that never completes ICE for as long
 * as its client likes (measured: npm run ice-tcp-exposure; docs/security.md).
 * RTC_TCP=false removes that surface: no TCP listener, no TCP candidates,
 * and calls go on over UDP.
 */
const connectResult = (port: number) =>
  new Promise<string>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });

describe('ICE over TCP', () => {
  let withTcp: Switchyard;
  let udpOnly: Switchyard;

  beforeAll(async () => {
    withTcp = await startTestServer({ WORKERS: '1' });
    udpOnly = await startTestServer({ WORKERS: '1', RTC_TCP: 'false' });
  });

  afterAll(async () => {
    await withTcp?.stop();
    await udpOnly?.stop();
  });

  it('is offered by default: the worker listens on TCP and the SDP has TCP candidates', async () => {
    expect(await connectResult(withTcp.config.rtcPort)).toBe('connected');
    const call = await startCall(withTcp.url);
    try {
      const sdp = withTcp.sessions.get(call.subscriber.sessionId)!.describe('active');
      expect(sdp).toMatch(/a=candidate:\S+ 1 tcp /);
    } finally {
      call.stop();
    }
  });

  it('with RTC_TCP=false nothing listens on TCP, no TCP candidate is offered, and media flows over UDP', async () => {
    expect(await connectResult(udpOnly.config.rtcPort)).toBe('ECONNREFUSED');
    const call = await startCall(udpOnly.url);
    try {
      const sdp = udpOnly.sessions.get(call.subscriber.sessionId)!.describe('active');
      expect(sdp).not.toMatch(/ tcp /);
      expect(sdp).toMatch(/a=candidate:\S+ 1 udp /);
      await call.stillFlowing();
    } finally {
      call.stop();
    }
  });
});
