/**
 * libwebrtc peers of the benches, through the GraphQL API as an application
 * uses it (test/helpers/peer.ts): the publisher (microphone and camera) and
 * plain subscribers.
 */
import { gql } from '../../test/helpers/graphql.js';
import { TestPeer } from '../../test/helpers/peer.js';
import { waitUntil } from '../forwarding/raw.js';
import { microphone, stampCamera, type Microphone } from './media.js';

const CLOSE_SESSION = 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }';

export interface Publisher {
  peer: TestPeer;
  mic: Microphone;
  cam: ReturnType<typeof stampCamera>;
}

/**
 * A session publishing the microphone as `mic` and the camera as `cam`; `defer` gets what undoes it
 * (run last-in, first-out: the peer stops before the sources).
 */
export async function startPublisher(url: string, defer: (undo: () => unknown) => void): Promise<Publisher> {
  const mic = microphone();
  const cam = stampCamera();
  defer(() => mic.stop());
  defer(() => cam.stop());
  const peer = new TestPeer(url);
  defer(() => peer.stop());
  await peer.createSession();
  const pushed = await peer.push([{ track: mic.track, name: 'mic' }, { track: cam.track, name: 'cam' }]);
  if (pushed.some((t) => t.error)) throw new Error(`pushTracks: ${JSON.stringify(pushed)}`);
  return { peer, mic, cam };
}

/** Inbound RTP packets a subscriber received so far, of `kind` (audio or video) or of both. */
export async function packetsReceived(pc: RTCPeerConnection, kind?: 'audio' | 'video'): Promise<number> {
  let packets = 0;
  (await pc.getStats()).forEach((s: { type: string; kind?: string; mediaType?: string; packetsReceived?: number }) => {
    if (s.type === 'inbound-rtp' && (!kind || (s.kind ?? s.mediaType) === kind)) packets += s.packetsReceived ?? 0;
  });
  return packets;
}

/** N plain subscribers (libwebrtc sessions), each pulling `trackNames` of session `sessionId`. */
export async function subscribers(url: string, sessionId: string, n: number, trackNames: string[]): Promise<TestPeer[]> {
  const peers: TestPeer[] = [];
  for (let i = 0; i < n; i += 1) {
    const peer = new TestPeer(url);
    peers.push(peer);
    await peer.createSession();
    const pulled = await peer.pull(trackNames.map((trackName) => ({ sessionId, trackName })));
    const failed = pulled.find((p) => !p || p.error);
    if (pulled.length === 0 || failed) throw new Error(`pullTracks: ${JSON.stringify(failed?.error)}`);
  }
  // Every kind it pulls flowing (audio alone would pass a count of all packets while the video has not started yet).
  const flowing = async (peer: TestPeer) => {
    const kinds = [...new Set([...peer.received.values()].map((t) => t.kind as 'audio' | 'video'))];
    return kinds.length > 0 && (await Promise.all(kinds.map((kind) => packetsReceived(peer.pc, kind)))).every((c) => c > 10);
  };
  await waitUntil('media at every subscriber', async () => (await Promise.all(peers.map(flowing))).every(Boolean), 20_000);
  return peers;
}

export async function closeSubscribers(url: string, peers: TestPeer[]): Promise<void> {
  for (const peer of peers) {
    if (peer.sessionId) await gql(url, CLOSE_SESSION, { id: peer.sessionId }).catch(() => undefined);
    peer.stop();
  }
}

/** Packet rates of subscribers over the window; `kinds`: audio and video apart ("video a-b, audio c-d RTP packets/s each"). */
export function packetRates(peers: TestPeer[], kinds: ('audio' | 'video')[] = []) {
  const ofKind = kinds.length ? kinds : [undefined];
  let start: number[][] = [];
  let latest: number[][] = [];
  const poll = async () => (latest = await Promise.all(ofKind.map((kind) => Promise.all(peers.map((p) => packetsReceived(p.pc, kind))))));
  return {
    start: async () => void (start = await poll()),
    end: async (seconds: number) => {
      await poll();
      const ranges = latest.map((counts, k) => {
        const rates = counts.map((c, i) => (c - start[k]![i]!) / seconds);
        return `${kinds[k] ? `${kinds[k]} ` : ''}${Math.min(...rates).toFixed(1)}-${Math.max(...rates).toFixed(1)}`;
      });
      return `${ranges.join(', ')} RTP packets/s each`;
    },
  };
}
