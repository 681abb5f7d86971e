import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenAudio, toneMicrophone, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { useTestServer } from '../helpers/server.js';
import { gqlOk } from '../helpers/graphql.js';
import { dominantFrequency, leftChannel } from '../helpers/audio.js';
import { packetOf, startAdapterService, tonePcm, tonePower, type ServiceConnection } from '../helpers/adapterService.js';

/**
 * WebSocket adapters through the GraphQL API, with a service the test runs:
 * a libwebrtc publisher's 440 Hz tone reaches the service as PCM (egress);
 * the service answers each packet with 880 Hz while it hears the tone, into
 * an ingest adapter whose track a libwebrtc subscriber pulls. The tone's
 * round trip is measured. Then 10 s of audio sent in one burst plays out in
 * real time, whole.
 */
const file = useTestServer({ WORKERS: '2' });
let service: Awaited<ReturnType<typeof startAdapterService>>;
/** The ingest socket the echo answers into, once the SFU connected it. */
let speaker: ServiceConnection | undefined;
let echoPhase = 0;

beforeAll(async () => {
  service = await startAdapterService((connection) => {
    if (connection.path === '/speak') speaker = connection;
    if (connection.path !== '/listen') return;
    // Each 20 ms heard: 20 ms of 880 Hz back while the 440 Hz tone is on, silence otherwise (paced by the egress itself).
    connection.socket.on('message', () => {
      const pcm = Buffer.from(connection.packets.at(-1)!.packet.payload);
      const loud = tonePower(leftChannel(pcm), 440, 48_000) > 500;
      const answer = loud ? tonePcm(880, 20, 8000, echoPhase) : Buffer.alloc(pcm.length);
      echoPhase += 960;
      if (speaker?.socket.readyState === 1) speaker.socket.send(packetOf(answer));
    });
  });
});

afterAll(async () => {
  await service.close();
});

const CREATE = `mutation($input: CreateWebSocketAdapterInput!) { createWebSocketAdapter(input: $input) { id location sessionId trackName state codec sampleRate channels endpoint } }`;
const ADAPTER = `query($id: ID!) { webSocketAdapter(id: $id) { id state reason bytesProcessed } }`;
const CLOSE = `mutation($id: ID!) { closeWebSocketAdapter(id: $id) { id state bytesProcessed } }`;


describe('WebSocket adapters (GraphQL)', () => {
  it('carries a tone to a service and the service\'s answer back to a subscriber', { timeout: 60_000 }, async () => {
    const microphone = toneMicrophone(440, 0);
    const publisher = new TestPeer(file.server.url);
    const subscriber = new TestPeer(file.server.url);
    const created: string[] = [];
    try {
      await publisher.createSession();
      await publisher.push([{ track: microphone.track, name: 'mic' }]);
      const egress = (await gqlOk(file.server.url, CREATE, { input: { location: 'REMOTE', sessionId: publisher.sessionId, trackName: 'mic', endpoint: service.url('/listen?token=abc') } })).createWebSocketAdapter;
      created.push(egress.id);
      expect(egress).toMatchObject({ location: 'REMOTE', state: 'CONNECTED', codec: 'PCM', sampleRate: 48000, channels: 2, endpoint: service.url('/listen') });
      const ingest = (await gqlOk(file.server.url, CREATE, { input: { location: 'LOCAL', trackName: 'answer', endpoint: service.url('/speak') } })).createWebSocketAdapter;
      created.push(ingest.id);
      expect(ingest.sessionId).not.toBe(publisher.sessionId);

      await subscriber.createSession();
      await subscriber.pull([{ sessionId: ingest.sessionId, trackName: 'answer' }]);
      await waitFor('the ingest track at the subscriber', () => subscriber.received.size > 0, 10_000);
      const heard = listenAudio([...subscriber.received.values()][0]!);
      await waitFor('silence from the ingest track', () => heard.chunks.length > 50, 10_000);

      // Tone on at the publisher: time until the subscriber hears 880 Hz.
      const listened = service.latest('/listen')!;
      const toneOn = performance.now();
      microphone.setAmplitude(8000);
      const loud = (c: { samples: Float64Array }) => tonePower(c.samples, 880, 48_000) > 500;
      await waitFor('880 Hz at the subscriber', () => heard.chunks.some((c) => c.at > toneOn && loud(c)), 10_000);
      const roundTrip = heard.chunks.find((c) => c.at > toneOn && loud(c))!.at - toneOn;
      const egressFirst = listened.packets.find((p) => p.at > toneOn && tonePower(leftChannel(Buffer.from(p.packet.payload)), 440, 48_000) > 500)!.at - toneOn;

      // Three seconds of both directions.
      const windowStart = listened.packets.length;
      const heardStart = heard.chunks.length;
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const window = listened.packets.slice(windowStart);
      const seconds = (window.at(-1)!.at - window[0]!.at) / 1000;
      const samples = window.slice(0, -1).reduce((n, p) => n + p.packet.payload.length / 4, 0);
      const egressPcm = Buffer.concat(window.map((p) => Buffer.from(p.packet.payload)));
      const egressHz = dominantFrequency(leftChannel(egressPcm).subarray(0, 48_000), 48_000, 200, 1200);
      const answer = heard.chunks.slice(heardStart);
      const answerSamples = new Float64Array(answer.reduce((n, c) => n + c.samples.length, 0));
      answer.reduce((at, c) => (answerSamples.set(c.samples, at), at + c.samples.length), 0);
      const answerHz = dominantFrequency(answerSamples.subarray(0, 48_000), 48_000, 200, 1200);
      const rate = samples / seconds;
      console.log(
        `adapter loop: egress ${egressHz} Hz, ${rate.toFixed(0)} samples/s (${((100 * (rate - 48_000)) / 48_000).toFixed(2)} %), ${window[0]!.packet.payload.length}-byte packets; ` +
          `tone to the service ${egressFirst.toFixed(0)} ms; answer ${answerHz} Hz at the subscriber; round trip ${roundTrip.toFixed(0)} ms`,
      );
      heard.stop();
      expect(Math.abs(egressHz - 440)).toBeLessThanOrEqual(3);
      expect(Math.abs(rate - 48_000) / 48_000).toBeLessThan(0.02);
      expect(Math.abs(answerHz - 880)).toBeLessThanOrEqual(3);
      expect(roundTrip).toBeLessThan(2000);

      // Closing: the egress stops, the ingest's track is unpublished; closing again answers the same (idempotent).
      for (const id of created) {
        const closed = (await gqlOk(file.server.url, CLOSE, { id })).closeWebSocketAdapter;
        expect(closed.state).toBe('CLOSED');
        expect(closed.bytesProcessed).toBeGreaterThan(100_000);
        expect((await gqlOk(file.server.url, CLOSE, { id })).closeWebSocketAdapter).toEqual(closed);
      }
      expect(file.server.sessions.tracks.get(ingest.sessionId, 'answer')).toBeUndefined();
      await waitFor('the service\'s sockets closed', () => listened.closeCode !== undefined && speaker?.closeCode !== undefined, 5000);
    } finally {
      microphone.stop();
      publisher.stop();
      subscriber.stop();
    }
  });

  it('runs several egress adapters on one track, each in its own PCM format', { timeout: 40_000 }, async () => {
    const microphone = toneMicrophone(440, 8000);
    const publisher = new TestPeer(file.server.url);
    const formats = [
      { sampleRate: 48_000, channels: 2 },
      { sampleRate: 24_000, channels: 1 },
      { sampleRate: 16_000, channels: 1 },
      { sampleRate: 16_000, channels: 2 },
      { sampleRate: 48_000, channels: 1 },
    ];
    try {
      await publisher.createSession();
      await publisher.push([{ track: microphone.track, name: 'mic' }]);
      const ids: string[] = [];
      for (const [i, format] of formats.entries()) {
        const input = { location: 'REMOTE', sessionId: publisher.sessionId, trackName: 'mic', endpoint: service.url(`/format-${i}`), ...format };
        ids.push((await gqlOk(file.server.url, CREATE, { input })).createWebSocketAdapter.id);
      }
      await waitFor('a second of audio at every service', () => formats.every((_, i) => (service.latest(`/format-${i}`)?.packets.length ?? 0) > 60), 10_000);
      const measured = formats.map((format, i) => {
        const packets = service.latest(`/format-${i}`)!.packets.slice(-50);
        const pcm = Buffer.concat(packets.map((p) => Buffer.from(p.packet.payload)));
        const mono = new Float64Array(pcm.length / (2 * format.channels));
        for (let k = 0; k < mono.length; k += 1) mono[k] = pcm.readInt16LE(k * 2 * format.channels);
        return { ...format, bytes: packets[0]!.packet.payload.length, hz: dominantFrequency(mono, format.sampleRate, 200, 1200), step: packets[1]!.packet.timestamp - packets[0]!.packet.timestamp };
      });
      console.log(`formats: ${measured.map((m) => `${m.sampleRate / 1000} kHz x${m.channels}: ${m.bytes} B, ${m.hz} Hz`).join('; ')}`);
      for (const m of measured) {
        // 20 ms per packet in the asked format; timestamps count samples at its rate.
        expect(m.bytes).toBe((m.sampleRate / 50) * m.channels * 2);
        expect(m.step).toBe(m.sampleRate / 50);
        expect(Math.abs(m.hz - 440)).toBeLessThanOrEqual(3);
      }
      // Operators see them (development mode serves /metrics on the API port).
      const metrics = await (await fetch(`${file.server.url}/metrics`)).text();
      expect(metrics).toMatch(/switchyard_websocket_adapters\{location="remote",codec="pcm"\} 5/);
      for (const id of ids) expect((await gqlOk(file.server.url, CLOSE, { id })).closeWebSocketAdapter.state).toBe('CLOSED');
    } finally {
      microphone.stop();
      publisher.stop();
    }
  });

  it('plays 10 s of audio sent in one burst in real time, all of it', { timeout: 60_000 }, async () => {
    const subscriber = new TestPeer(file.server.url);
    try {
      const ingest = (await gqlOk(file.server.url, CREATE, { input: { location: 'LOCAL', trackName: 'burst', endpoint: service.url('/burst') } })).createWebSocketAdapter;
      await subscriber.createSession();
      await subscriber.pull([{ sessionId: ingest.sessionId, trackName: 'burst' }]);
      await waitFor('the ingest track at the subscriber', () => subscriber.received.size > 0, 10_000);
      const heard = listenAudio([...subscriber.received.values()][0]!);
      await waitFor('audio at the subscriber', () => heard.chunks.length > 50, 10_000);
      // 10 s of 660 Hz in 16 KB messages (Cloudflare's example's size), as fast as the socket takes them.
      const pcm = tonePcm(660, 10_000);
      const socket = service.latest('/burst')!.socket;
      const sentAt = performance.now();
      for (let at = 0; at < pcm.length; at += 16 * 1024) socket.send(packetOf(pcm.subarray(at, at + 16 * 1024)));
      await waitFor('the burst played out', () => {
        const last = heard.chunks.filter((c) => tonePower(c.samples, 660, 48_000) > 500).at(-1);
        return last !== undefined && performance.now() - last.at > 1000;
      }, 20_000);
      const toned = heard.chunks.filter((c) => tonePower(c.samples, 660, 48_000) > 500);
      const span = (toned.at(-1)!.at - toned[0]!.at) / 1000;
      const audible = toned.reduce((n, c) => n + c.samples.length, 0) / 48_000;
      console.log(`burst: 10 s sent in ${(performance.now() - sentAt).toFixed(0)} ms (to the last chunk heard); heard ${audible.toFixed(2)} s of tone over ${span.toFixed(2)} s of wall time`);
      heard.stop();
      const state = (await gqlOk(file.server.url, ADAPTER, { id: ingest.id })).webSocketAdapter;
      expect(state.bytesProcessed).toBe(pcm.length);
      expect(audible).toBeGreaterThan(9.8);
      expect(audible).toBeLessThan(10.2);
      expect(span).toBeGreaterThan(9.7);
      expect(span).toBeLessThan(10.5);
      await gqlOk(file.server.url, CLOSE, { id: ingest.id });
    } finally {
      subscriber.stop();
    }
  });
});
