import { fakeCamera, pullVideo } from './media.js';
import { TestPeer } from './peer.js';

/** Session.quality and Session.stats with every track field the call-quality tests read. */
export const STATS = `query($id: ID!) { session(id: $id) { quality stats { quality score bitrateIn bitrateOut availableOutgoingBitrate roundTripTime
  tracks { mid location kind trackName bitrate packets packetsLost fractionLost jitter roundTripTime nackCount pliCount score } } } }`;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Bits per second the publisher's libwebrtc says it sent over `ms` (outbound-rtp bytesSent, video). */
export async function sentBitrate(peer: TestPeer, ms: number): Promise<number> {
  const bytes = async () => {
    let total = 0;
    (await peer.pc.getStats()).forEach((s: { type: string; kind?: string; bytesSent?: number }) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') total += s.bytesSent ?? 0;
    });
    return total;
  };
  const before = await bytes();
  await sleep(ms);
  return ((await bytes()) - before) * 8 / (ms / 1000);
}

export type TrackStats = { mid: string; location: string; bitrate: number; packets: number; packetsLost: number; fractionLost: number; score: number; nackCount: number; pliCount: number; roundTripTime: number | null; jitter: number | null };

/** A libwebrtc publisher sending a 320x240 camera and a subscriber decoding it; `cleanups` gets what to stop. */
export async function startVideoCall(url: string, cleanups: (() => void)[]) {
  const publisher = new TestPeer(url);
  cleanups.push(() => publisher.stop());
  const cam = fakeCamera(320, 240);
  cleanups.push(cam.stop);
  await publisher.createSession();
  await publisher.push([{ track: cam.track, name: 'cam' }]);
  const subscriber = new TestPeer(url);
  cleanups.push(() => subscriber.stop());
  await subscriber.createSession();
  const { mid, video } = await pullVideo(subscriber, { sessionId: publisher.sessionId, trackName: 'cam' }, cleanups, 20);
  return { publisher, subscriber, mid, video };
}
