/**
 * The node process of bench:adapters (`--node`): the node, with hooks on
 * its adapters that time what the bench cannot see from outside. Each
 * PcmEgress: when each RTP packet reached its Opus decoder. PcmIngest: when
 * a loud Packet arrived from the service, and when a loud frame left its
 * buffer for the encoder.
 */
import { decodePacket } from '../../src/adapters/websocket/packet.js';
import { LOUD, peak } from '../lib/media.js';
import { serveNode } from '../lib/node.js';
import { epoch } from '../lib/settings.js';

export type ToNode = { cmd: 'egress'; from: number } | { cmd: 'ingest-hooks'; on: boolean };
export type FromNode = { type: 'egress'; count: number; egresses: { times: number[] }[] } | { type: 'ingest-hooks'; received: number[]; framed: number[] };

export async function nodeProcess(): Promise<void> {
  const egresses: { times: number[] }[] = [];
  let h: Awaited<ReturnType<typeof ingestHooks>>;
  try {
    await timeEgresses(egresses);
    h = await ingestHooks();
  } catch (error) {
    process.send!({ type: 'error', message: String((error as Error)?.stack ?? error) });
    process.exit(1);
  }
  await serveNode<ToNode, FromNode>({
    env: {
      MAX_ADAPTERS_PER_SESSION: '100',
      MAX_ADAPTERS_PER_APP: '1000',
      SESSION_CREATIONS_PER_APP_PER_SECOND: '100000',
      RATE_LIMIT_MUTATIONS_PER_SECOND: '100000',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    },
    handle: (message, send) => {
      if (message.cmd === 'egress') send({ type: 'egress', count: egresses.length, egresses: egresses.slice(message.from) });
      else if (message.cmd === 'ingest-hooks') {
        send({ type: 'ingest-hooks', received: h.received, framed: h.framed });
        Object.assign(h, { on: message.on, received: [], framed: [], loudIn: false, loudOut: false });
      }
    },
  });
}

/**
 * Each PcmEgress, in the order they start (adapters are created one at a time): when each RTP packet reached its
 * decoder. Call i makes Packet i while no packet is lost. Wrapped as start() returns it, before any packet can
 * arrive (a UDP message is a macrotask; the constructor attaches its listener in the same turn).
 */
async function timeEgresses(egresses: { times: number[] }[]): Promise<void> {
  const { PcmEgress } = await import('../../src/adapters/websocket/PcmEgress.js');
  const start = PcmEgress.start.bind(PcmEgress);
  PcmEgress.start = async (...params: Parameters<typeof PcmEgress.start>) => {
    const egress = await start(...params);
    const entry = { times: [] as number[] };
    egresses.push(entry);
    const decoder = (egress as unknown as { decoder: { decode(packet: unknown): Buffer[] } }).decoder;
    const decode = decoder.decode.bind(decoder);
    decoder.decode = (packet: unknown) => {
      entry.times.push(epoch());
      return decode(packet);
    };
    return egress;
  };
}

/** PcmIngest: when a loud Packet arrives from the service, and when a loud frame leaves the buffer for the encoder. */
async function ingestHooks() {
  const { PcmIngest } = await import('../../src/adapters/websocket/PcmIngest.js');
  const hooks = { on: false, received: [] as number[], framed: [] as number[], loudIn: false, loudOut: false };
  const ingest = PcmIngest.prototype as unknown as { receive(data: Buffer, isBinary: boolean): void; nextFrame(now: number): Buffer };
  const receive = ingest.receive;
  ingest.receive = function (this: unknown, data: Buffer, isBinary: boolean) {
    if (hooks.on) {
      const loud = peak(decodePacket(data).payload) > LOUD;
      if (loud && !hooks.loudIn) hooks.received.push(epoch());
      hooks.loudIn = loud;
    }
    return receive.call(this, data, isBinary);
  };
  const nextFrame = ingest.nextFrame;
  ingest.nextFrame = function (this: unknown, now: number) {
    const frame = nextFrame.call(this, now);
    if (hooks.on) {
      const loud = peak(frame) > LOUD;
      if (loud && !hooks.loudOut) hooks.framed.push(epoch());
      hooks.loudOut = loud;
    }
    return frame;
  };
  return hooks;
}
