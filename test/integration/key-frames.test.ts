import type { types } from 'mediasoup';
import { afterEach, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { fakeCamera, waitFor, watchVideo } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';

/**
 * Issue 12: key-frame requests are coalesced per source. Subscribers whose
 * decoders cannot start (a late joiner waiting for its end-to-end keys, a
 * broken decoder) ask for key frames over and over; every one that reaches
 * the publisher is a burst of bandwidth for every other subscriber.
 *
 * Each subscriber's request is made with mediasoup's consumer.requestKeyFrame(),
 * which enters the worker exactly where a PLI received from that subscriber
 * does (the consumer asks its producer through the router), so the publisher
 * (libwebrtc) sees what 10 asking subscribers would cost it.
 */
const SUBSCRIBERS = 10;
const ASK_EVERY_MS = 100;
const ASK_FOR_MS = 6000;
/** The delay under test: twice the default, so that the bound differs clearly from libwebrtc's own pace (about one key frame a second). */
const DELAY_MS = 2000;
/** Requests that may reach the publisher in `seconds` with DELAY_MS: one at once, then one per delay. */
const allowed = (seconds: number) => Math.ceil((seconds * 1000) / DELAY_MS) + 1;

let server: Switchyard | undefined;
const cleanups: (() => void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
  await server?.stop();
  server = undefined;
});

/** A publisher and 10 subscribers (on both workers) that all decode its camera; returns what the test measures. */
async function callWithSubscribers(keyFrameRequestDelayMs: number) {
  server = await startTestServer({ WORKERS: '2', KEY_FRAME_REQUEST_DELAY_MS: String(keyFrameRequestDelayMs) });
  const camera = fakeCamera(160, 120, 30);
  cleanups.push(camera.stop);
  const publisher = new TestPeer(server.url);
  cleanups.push(() => publisher.stop());
  await publisher.createSession();
  const [pushed] = await publisher.push([{ track: camera.track, name: 'camera' }]);
  expect(pushed?.error).toBeNull();

  const consumers: types.Consumer[] = [];
  const workers = new Set<number>();
  for (let i = 0; i < SUBSCRIBERS; i += 1) {
    const peer = new TestPeer(server.url);
    cleanups.push(() => peer.stop());
    await peer.createSession();
    const [pulled] = await peer.pull([{ sessionId: publisher.sessionId, trackName: 'camera' }]);
    expect(pulled?.error).toBeNull();
    const mid = pulled!.mid!;
    await waitFor(`subscriber ${i} gets the track`, () => peer.received.has(mid));
    const video = watchVideo(peer.received.get(mid)!);
    cleanups.push(video.stop);
    await waitFor(`subscriber ${i} decodes`, () => video.stats.frames > 5, 15_000);
    const session = server.sessions.get(peer.sessionId)!;
    workers.add(session.worker.index);
    consumers.push(session.transceivers.find((t) => t.section.mid === mid)!.pulled!.consumer);
  }
  expect(workers.size).toBe(2);
  const producer = server.sessions.tracks.list()[0]!.producer;
  return { publisher, consumers, producer };
}

/** Key-frame requests the SFU sent to the publisher (PLI and FIR), from the producer's own stats. */
async function requestsSent(producer: types.Producer): Promise<number> {
  const stats = await producer.getStats();
  return stats.reduce((sum, s) => sum + (s.pliCount ?? 0) + (s.firCount ?? 0), 0);
}

/** Key frames the publisher's encoder made (libwebrtc's outbound-rtp keyFramesEncoded). */
async function keyFramesEncoded(publisher: TestPeer): Promise<number> {
  const report = await publisher.pc.getStats();
  let total = 0;
  report.forEach((s: { type: string; kind?: string; keyFramesEncoded?: number }) => {
    if (s.type === 'outbound-rtp' && s.kind === 'video') total += s.keyFramesEncoded ?? 0;
  });
  return total;
}

/** Every subscriber asks for a key frame every ASK_EVERY_MS for ASK_FOR_MS; returns what reached the publisher. */
async function storm(call: Awaited<ReturnType<typeof callWithSubscribers>>) {
  const requestsBefore = await requestsSent(call.producer);
  const keyFramesBefore = await keyFramesEncoded(call.publisher);
  const started = Date.now();
  let asked = 0;
  while (Date.now() - started < ASK_FOR_MS) {
    await Promise.all(call.consumers.map((consumer) => consumer.requestKeyFrame()));
    asked += call.consumers.length;
    await new Promise((resolve) => setTimeout(resolve, ASK_EVERY_MS));
  }
  const seconds = (Date.now() - started) / 1000;
  // Let the last request's key frame be encoded and counted.
  await new Promise((resolve) => setTimeout(resolve, 500));
  return {
    asked,
    seconds,
    requests: (await requestsSent(call.producer)) - requestsBefore,
    keyFrames: (await keyFramesEncoded(call.publisher)) - keyFramesBefore,
  };
}

describe('key-frame requests of many subscribers', () => {
  it('cost the publisher at most one key frame per KEY_FRAME_REQUEST_DELAY_MS', { timeout: 120_000 }, async () => {
    const call = await callWithSubscribers(DELAY_MS);
    const result = await storm(call);
    console.log(`key frames, delay ${DELAY_MS} ms: ${result.asked} requests from ${SUBSCRIBERS} subscribers in ${result.seconds.toFixed(1)} s -> ${result.requests} sent to the publisher, ${result.keyFrames} key frames encoded`);
    expect(result.requests).toBeGreaterThanOrEqual(2);
    expect(result.requests).toBeLessThanOrEqual(allowed(result.seconds));
    expect(result.keyFrames).toBeGreaterThanOrEqual(2);
    expect(result.keyFrames).toBeLessThanOrEqual(allowed(result.seconds) + 1);
  });

  it('without the delay the same storm reaches the publisher many times (what the setting prevents)', { timeout: 120_000 }, async () => {
    const call = await callWithSubscribers(0);
    const result = await storm(call);
    console.log(`key frames, delay 0: ${result.asked} requests in ${result.seconds.toFixed(1)} s -> ${result.requests} sent to the publisher, ${result.keyFrames} key frames encoded`);
    expect(result.requests).toBeGreaterThan(2 * allowed(result.seconds));
  });
});
