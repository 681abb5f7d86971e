import wrtc from '@roamhq/wrtc';
import { gqlOk } from './graphql.js';

const { RTCPeerConnection } = wrtc;

const SESSION_FIELDS = 'session { id connectionState tracks { mid location status track { sessionId name kind status } } }';
const TRACK_RESULTS = 'tracks { mid sessionId trackName error { code message } }';

/** Three simulcast layers, q(uarter), h(alf) and f(ull): libwebrtc sends all three only from 960x540 up. */
export const SIMULCAST_LAYERS: RTCRtpEncodingParameters[] = [
  { rid: 'q', scaleResolutionDownBy: 4 },
  { rid: 'h', scaleResolutionDownBy: 2 },
  { rid: 'f', scaleResolutionDownBy: 1 },
];

export interface TrackResultData {
  mid: string | null;
  sessionId: string | null;
  trackName: string | null;
  error: { code: string; message: string } | null;
}

/**
 * A client of the API with a real libwebrtc PeerConnection: the flow an
 * application follows, step by step, with nothing of Switchyard's own code.
 */
export class TestPeer {
  readonly pc: RTCPeerConnection;
  sessionId = '';
  /** Received tracks by mid. */
  readonly received = new Map<string, MediaStreamTrack>();

  /** credential: an app secret or client token sent with every request (none in development mode). */
  constructor(
    /** The API this peer calls; a test may point it at another node of a cluster between calls. */
    public url: string,
    private readonly credential?: string,
    /** ICE servers and policy (TURN tests); bundlePolicy is always max-bundle. */
    configuration: RTCConfiguration = {},
  ) {
    this.pc = new RTCPeerConnection({ ...configuration, bundlePolicy: 'max-bundle' });
    this.pc.ontrack = (event: RTCTrackEvent) => {
      const mid = event.transceiver.mid;
      if (mid) this.received.set(mid, event.track);
    };
  }

  /**
   * Creates the session. By default the way applications should: with an
   * offer that carries only a data channel, so that the first m-section (the
   * one that carries the BUNDLE transport) is never a media track that a
   * later closeTracks would stop.
   */
  async createSession(options: { dataChannel?: boolean } = {}): Promise<string> {
    if (options.dataChannel === false) {
      const data = await this.request(`mutation { createSession { ${SESSION_FIELDS} } }`);
      this.sessionId = data.createSession.session.id;
      return this.sessionId;
    }
    this.pc.createDataChannel('switchyard');
    await this.setLocal(await this.pc.createOffer());
    const data = await this.request(
      `mutation($sdp: String!) { createSession(input: { sessionDescription: { type: OFFER, sdp: $sdp } }) { ${SESSION_FIELDS} sessionDescription { sdp } resumeSecret } }`,
      { sdp: this.localSdp },
    );
    await this.pc.setRemoteDescription({ type: 'answer', sdp: data.createSession.sessionDescription.sdp });
    this.sessionId = data.createSession.session.id;
    this.resumeSecret = data.createSession.resumeSecret ?? '';
    return this.sessionId;
  }

  /** The secret createSession gave: resumeSession needs it. */
  resumeSecret = '';

  /**
   * Takes over a session on this peer's (new) PeerConnection: resumeSession
   * with an offer that carries only a data channel, as createSession does.
   * Returns the names the session published before the move.
   */
  async resumeSession(sessionId: string, resumeSecret: string): Promise<string[]> {
    this.pc.createDataChannel('switchyard');
    await this.setLocal(await this.pc.createOffer());
    const data = await this.request(
      `mutation($input: ResumeSessionInput!) { resumeSession(input: $input) { session { id } sessionDescription { sdp } movedTrackNames } }`,
      { input: { sessionId, resumeSecret, sessionDescription: { type: 'OFFER', sdp: this.localSdp } } },
    );
    await this.pc.setRemoteDescription({ type: 'answer', sdp: data.resumeSession.sessionDescription.sdp });
    this.sessionId = data.resumeSession.session.id;
    this.resumeSecret = resumeSecret;
    return data.resumeSession.movedTrackNames;
  }

  /** Adds sendonly transceivers for the tracks and publishes them under the given names (simulcast with `sendEncodings`, e.g. SIMULCAST_LAYERS). */
  async push(tracks: { track: MediaStreamTrack; name: string; tags?: string[]; sendEncodings?: RTCRtpEncodingParameters[] }[]): Promise<TrackResultData[]> {
    const transceivers = tracks.map(({ track, sendEncodings }) => this.pc.addTransceiver(track, { direction: 'sendonly', ...(sendEncodings ? { sendEncodings } : {}) }));
    const offer = await this.pc.createOffer();
    await this.setLocal(offer);
    const data = await this.request(
      `mutation($input: PushTracksInput!) { pushTracks(input: $input) { requiresImmediateRenegotiation sessionDescription { type sdp } ${TRACK_RESULTS} } }`,
      {
        input: {
          sessionId: this.sessionId,
          sessionDescription: { type: 'OFFER', sdp: this.localSdp },
          tracks: tracks.map(({ name, tags }, i) => ({ mid: transceivers[i]!.mid, trackName: name, tags: tags ?? [] })),
        },
      },
    );
    const answer = data.pushTracks.sessionDescription;
    await this.pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    return data.pushTracks.tracks;
  }

  /**
   * A publisher that never connects: a session with no data channel whose
   * track is published from its offer, but the SFU's answer is never applied
   * (no ICE, no DTLS). Pulls of it wait MEDIA_WAIT_MS for it, then fail.
   */
  async pushNeverConnecting(track: MediaStreamTrack, name: string): Promise<void> {
    await this.createSession({ dataChannel: false });
    const transceiver = this.pc.addTransceiver(track, { direction: 'sendonly' });
    await this.setLocal(await this.pc.createOffer());
    await this.request('mutation($input: PushTracksInput!) { pushTracks(input: $input) { tracks { error { code } } } }', {
      input: { sessionId: this.sessionId, sessionDescription: { type: 'OFFER', sdp: this.localSdp }, tracks: [{ mid: transceiver.mid, trackName: name }] },
    });
  }

  /** Pulls tracks: applies the SFU's offer and sends the answer back. */
  async pull(tracks: { sessionId: string; trackName: string; mid?: string }[]): Promise<TrackResultData[]> {
    const data = await this.request(
      `mutation($input: PullTracksInput!) { pullTracks(input: $input) { requiresImmediateRenegotiation sessionDescription { type sdp } ${TRACK_RESULTS} } }`,
      { input: { sessionId: this.sessionId, tracks } },
    );
    const payload = data.pullTracks;
    if (payload.requiresImmediateRenegotiation) {
      await this.applyOffer(payload.sessionDescription.sdp);
    }
    return payload.tracks;
  }

  async applyOffer(sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp });
    const answer = await this.pc.createAnswer();
    await this.setLocal(answer);
    await this.request(
      'mutation($input: RenegotiateInput!) { renegotiate(input: $input) { sessionDescription { sdp } } }',
      { input: { sessionId: this.sessionId, sessionDescription: { type: 'ANSWER', sdp: this.localSdp } } },
    );
  }

  /** Stops the transceivers on these mids and closes their tracks with the resulting offer. */
  async close(mids: string[]): Promise<TrackResultData[]> {
    for (const transceiver of this.pc.getTransceivers()) {
      if (transceiver.mid && mids.includes(transceiver.mid)) transceiver.stop();
    }
    const offer = await this.pc.createOffer();
    await this.setLocal(offer);
    const data = await this.request(
      `mutation($input: CloseTracksInput!) { closeTracks(input: $input) { sessionDescription { type sdp } ${TRACK_RESULTS} } }`,
      { input: { sessionId: this.sessionId, mids, sessionDescription: { type: 'OFFER', sdp: this.localSdp } } },
    );
    await this.pc.setRemoteDescription({ type: 'answer', sdp: data.closeTracks.sessionDescription.sdp });
    return data.closeTracks.tracks;
  }

  /** The SDP of the last local description this peer applied. */
  localSdp = '';

  /**
   * Applies a local description and remembers its SDP. Tests never read
   * pc.localDescription: in @roamhq/wrtc that getter serializes the
   * description while the signaling thread adds ICE candidates to it, and the
   * race segfaults the process (webrtc::SdpSerialize, seen with gdb). The SFU
   * is ICE-lite and needs no client candidates, so the created offer or
   * answer is exactly what to send.
   */
  async setLocal(description: RTCSessionDescriptionInit): Promise<string> {
    await this.pc.setLocalDescription(description);
    if (description.type !== 'rollback') this.localSdp = description.sdp ?? '';
    return this.localSdp;
  }

  private request(query: string, variables: Record<string, unknown> = {}): Promise<Record<string, any>> {
    return gqlOk(this.url, query, variables, this.credential);
  }

  midOf(track: MediaStreamTrack): string {
    const transceiver = this.pc.getTransceivers().find((t: RTCRtpTransceiver) => t.sender.track === track);
    if (!transceiver?.mid) throw new Error('track has no transceiver');
    return transceiver.mid;
  }

  stop(): void {
    this.pc.close();
  }
}
