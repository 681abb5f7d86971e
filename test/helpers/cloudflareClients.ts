import wrtc from '@roamhq/wrtc';
import { expect } from 'vitest';
import { CloudflareApi, type CfResponse } from './cloudflareApi.js';
import { fakeCamera, fakeMicrophone, waitFor, watchVideo } from './media.js';
import type { AllowedDifference } from './openapiShape.js';

const { RTCPeerConnection } = wrtc;

/** What Switchyard returns beyond the document, and only this. */
export const DOCUMENTED_DIFFERENCES: AllowedDifference[] = [
  {
    operation: 'PUT /apps/{appId}/sessions/{sessionId}/tracks/update',
    status: 200,
    path: '$.sessionDescription',
    schema: { $ref: '#/schemas/SessionDescription' },
    why: 'a mid retargeted to another source needs an SFU offer in Switchyard (mediasoup sends the new source with its own SSRC); Cloudflare swaps it without SDP',
  },
];

export type Pc = InstanceType<typeof RTCPeerConnection>;
export interface Client {
  sessionId: string;
  pc: Pc;
  /** Received tracks by their transceiver's mid. */
  received: Map<string, MediaStreamTrack>;
}

/** What useTestServer() gives a test file: its node, and what each test opened (closed after it). */
interface TestFile {
  server: { url: string };
  cleanups: (() => void)[];
}

/** Where CloudflareApi records what its walker checked (see its constructor); a test file's coverage test reads them. */
export interface CheckRecord {
  checked: Set<string>;
  usedDifferences: Set<string>;
}

/**
 * Clients of the Cloudflare Realtime SFU API of one test file's node
 * (useTestServer(), development mode: no apps, any appId), driven exactly as
 * Cloudflare's examples drive them: plain fetch, libwebrtc PeerConnections,
 * SFU offers answered through /renegotiate. Every response goes through
 * CloudflareApi's walker and is recorded in `record`.
 */
export function cloudflareClients(file: TestFile, record: CheckRecord) {
  const api = () => new CloudflareApi(file.server.url, 'my-app', undefined, DOCUMENTED_DIFFERENCES, record.checked, record.usedDifferences);

  function newPc(): { pc: Pc; received: Map<string, MediaStreamTrack> } {
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    const received = new Map<string, MediaStreamTrack>();
    pc.ontrack = (event: RTCTrackEvent) => {
      if (event.transceiver.mid) received.set(event.transceiver.mid, event.track);
    };
    file.cleanups.push(() => pc.close());
    return { pc, received };
  }

  const connected = (pc: Pc) => waitFor('ICE connected', () => ['connected', 'completed'].includes(pc.iceConnectionState), 10_000);

  function camera(width = 320, height = 240) {
    const source = fakeCamera(width, height);
    file.cleanups.push(source.stop);
    return source.track;
  }
  function microphone() {
    const source = fakeMicrophone();
    file.cleanups.push(source.stop);
    return source.track;
  }

  async function newSession(cf: CloudflareApi): Promise<Client> {
    const created = await cf.newSession();
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ sessionId: expect.any(String) });
    return { sessionId: created.body.sessionId, ...newPc() };
  }

  /** Cloudflare's echo, push side: a session with no body, sendonly transceivers, tracks/new with the offer and each mid. */
  async function publish(cf: CloudflareApi, sources: { trackName: string; track: MediaStreamTrack }[]) {
    const client = await newSession(cf);
    const transceivers = sources.map(({ track }) => client.pc.addTransceiver(track, { direction: 'sendonly' }));
    const offer = await client.pc.createOffer();
    await client.pc.setLocalDescription(offer);
    const pushed = await cf.call('POST', `/sessions/${client.sessionId}/tracks/new`, {
      sessionDescription: { sdp: offer.sdp, type: 'offer' },
      tracks: transceivers.map((t, i) => ({ location: 'local', mid: t.mid, trackName: sources[i]!.trackName })),
    });
    expect(pushed.status).toBe(200);
    expect(pushed.body).toEqual({
      requiresImmediateRenegotiation: false,
      sessionDescription: { type: 'answer', sdp: expect.stringMatching(/^v=0/) },
      tracks: sources.map(({ trackName }, i) => ({ trackName, mid: transceivers[i]!.mid })),
    });
    await client.pc.setRemoteDescription(pushed.body.sessionDescription);
    await connected(client.pc);
    return { ...client, mids: transceivers.map((t) => t.mid as string), transceivers };
  }

  /** Cloudflare's echo, pull side: tracks/new with remote tracks and no SDP, then the SFU offer answered with /renegotiate. */
  async function pull(cf: CloudflareApi, client: Client, tracks: Record<string, unknown>[]): Promise<CfResponse> {
    const pulled = await cf.call('POST', `/sessions/${client.sessionId}/tracks/new`, { tracks: tracks.map((t) => ({ location: 'remote', ...t })) });
    expect(pulled.status).toBe(200);
    if (pulled.body.requiresImmediateRenegotiation) await answerOffer(cf, client, pulled.body.sessionDescription);
    return pulled;
  }

  async function answerOffer(cf: CloudflareApi, client: Client, offer: { type: string; sdp: string }, prepare?: () => void | Promise<void>) {
    expect(offer.type).toBe('offer');
    await client.pc.setRemoteDescription(offer as RTCSessionDescriptionInit);
    await prepare?.();
    const answer = await client.pc.createAnswer();
    await client.pc.setLocalDescription(answer);
    const renegotiated = await cf.call('PUT', `/sessions/${client.sessionId}/renegotiate`, { sessionDescription: { sdp: answer.sdp, type: 'answer' } });
    expect(renegotiated.status).toBe(200);
    // Clients call .json() on it: an object, empty when the SFU has nothing to add.
    expect(renegotiated.body).toEqual({});
  }

  function watch(track: MediaStreamTrack | undefined) {
    if (!track) throw new Error('no track received on that mid');
    const video = watchVideo(track);
    file.cleanups.push(video.stop);
    return video.stats;
  }

  const getSession = async (cf: CloudflareApi, sessionId: string) => {
    const state = await cf.call('GET', `/sessions/${sessionId}`);
    expect(state.status).toBe(200);
    return state.body as { tracks: Record<string, unknown>[]; dataChannels: Record<string, unknown>[] };
  };

  return { api, newPc, connected, camera, microphone, newSession, publish, pull, answerOffer, watch, getSession };
}
