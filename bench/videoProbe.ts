import wrtc from '@roamhq/wrtc';
import type { Switchyard } from '../src/app.js';
import { gqlOk } from '../test/helpers/graphql.js';
import { TestPeer } from '../test/helpers/peer.js';

const { RTCVideoSource, RTCVideoSink } = wrtc.nonstandard;
export const WIDTH = 320;
export const HEIGHT = 240;
const BITS = 32;
const BLOCK = WIDTH / BITS;

/** A camera whose every frame carries the low 32 bits of its capture time (ms) as black/white blocks. */
export function timestampCamera(fps = 30) {
  const source = new RTCVideoSource();
  const track = source.createTrack();
  const data = new Uint8Array((WIDTH * HEIGHT * 3) / 2);
  const timer = setInterval(() => {
    const now = Date.now() >>> 0;
    for (let y = 0; y < HEIGHT; y += 1) {
      for (let x = 0; x < WIDTH; x += 1) {
        const bit = y < 16 ? (now >>> (BITS - 1 - Math.floor(x / BLOCK))) & 1 : (x + y) & 1;
        data[y * WIDTH + x] = y < 16 ? (bit ? 235 : 16) : 128 + (bit ? 10 : -10);
      }
    }
    data.fill(128, WIDTH * HEIGHT);
    source.onFrame({ width: WIDTH, height: HEIGHT, data });
  }, Math.round(1000 / fps));
  return { track, stop: () => { clearInterval(timer); track.stop(); } };
}

/** Reads the capture time back from a decoded frame and records capture-to-decode latency. */
export function latencyProbe(track: MediaStreamTrack) {
  const sink = new RTCVideoSink(track);
  const samples: number[] = [];
  let frames = 0;
  let firstFrameAt = 0;
  sink.onframe = ({ frame }: { frame: { width: number; height: number; data: Uint8Array } }) => {
    frames += 1;
    firstFrameAt ||= performance.now();
    if (frame.width !== WIDTH) return;
    let stamp = 0;
    for (let i = 0; i < BITS; i += 1) stamp = (stamp * 2) + (frame.data[8 * WIDTH + i * BLOCK + BLOCK / 2]! > 128 ? 1 : 0);
    const latency = ((Date.now() >>> 0) - stamp) >>> 0;
    if (latency < 5000) samples.push(latency);
  };
  return { samples, frames: () => frames, firstFrameAt: () => firstFrameAt, stop: () => sink.stop() };
}


const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A fresh subscriber on `on` pulls the camera; resolves once it decodes,
 * with the time from the pull to its first decoded frame. `stop` ends the
 * session at once (not when its ICE consent runs out), so its consumer lets
 * go of any pipe.
 */
export async function pullToFirstFrame(on: Switchyard, publisherId: string) {
  const peer = new TestPeer(on.url);
  await peer.createSession();
  const started = performance.now();
  const [pulled] = await peer.pull([{ sessionId: publisherId, trackName: 'camera' }]);
  if (pulled?.error) throw new Error(`pull failed: ${pulled.error.message}`);
  while (!peer.received.has(pulled!.mid!)) await sleep(5);
  const probe = latencyProbe(peer.received.get(pulled!.mid!)!);
  while (!probe.firstFrameAt()) await sleep(2);
  const stop = async () => {
    probe.stop();
    await gqlOk(on.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: peer.sessionId });
    peer.stop();
  };
  return { peer, probe, ms: probe.firstFrameAt() - started, stop };
}
