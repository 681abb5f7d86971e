// A Switchyard client in plain browser JavaScript: one RTCPeerConnection and
// fetch() to /graphql, no SDK. It follows docs/lifecycle.md as someone writing
// their own client would. Injected into a page with page.addScriptTag; the
// tests drive it through window.sy with page.evaluate.
'use strict';
window.sy = (() => {
  const TRACKS = 'tracks { mid trackName error { code message } }';
  const INPUT_TYPES = { pushTracks: 'PushTracksInput', closeTracks: 'CloseTracksInput', renegotiate: 'RenegotiateInput' };

  const sy = {
    /** @type {RTCPeerConnection | null} */
    pc: null,
    sessionId: null,
    /** Local tracks by name: { track, transceiver }. */
    local: new Map(),
    /** <video> elements that play received tracks, by mid. */
    videos: new Map(),
  };

  /** One GraphQL operation: the whole response body ({ data, errors }). */
  sy.gql = async (query, variables = {}) => {
    const response = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    return response.json();
  };

  /** Like gql, but throws on any error and returns the data. */
  sy.gqlOk = async (query, variables) => {
    const body = await sy.gql(query, variables);
    if (body.errors?.length || !body.data) throw new Error(`GraphQL error: ${JSON.stringify(body.errors)}`);
    return body.data;
  };

  /** A fake camera track (Chromium's --use-fake-device-for-media-stream). */
  sy.camera = async () => (await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 } })).getVideoTracks()[0];
  sy.microphone = async () => (await navigator.mediaDevices.getUserMedia({ audio: true })).getAudioTracks()[0];

  sy.transceiver = (mid) => {
    const transceiver = sy.pc.getTransceivers().find((t) => t.mid === mid);
    if (!transceiver) throw new Error(`no transceiver with mid ${mid}`);
    return transceiver;
  };

  /** The session: with a data-channel offer (rule 1 of docs/lifecycle.md), or without any offer. */
  sy.createSession = async ({ withOffer = true } = {}) => {
    sy.pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    if (!withOffer) {
      const data = await sy.gqlOk('mutation { createSession(input: {}) { session { id } } }');
      sy.sessionId = data.createSession.session.id;
      return { sessionId: sy.sessionId };
    }
    sy.channel = sy.pc.createDataChannel('switchyard');
    const offer = await sy.pc.createOffer();
    await sy.pc.setLocalDescription(offer);
    const data = await sy.gqlOk(
      `mutation($sdp: String!) {
        createSession(input: { sessionDescription: { type: OFFER, sdp: $sdp } }) { session { id } sessionDescription { type sdp } }
      }`,
      { sdp: offer.sdp },
    );
    sy.sessionId = data.createSession.session.id;
    const answerSdp = data.createSession.sessionDescription.sdp;
    await sy.pc.setRemoteDescription({ type: 'answer', sdp: answerSdp });
    return { sessionId: sy.sessionId, offerSdp: offer.sdp, answerSdp };
  };

  /**
   * Sends an offer of the client's own with pushTracks, closeTracks or
   * renegotiate and applies the SFU's answer. On an error the client rolls its
   * local offer back (rule 6) and gets the errors. `input` may be a function,
   * called once the offer is applied locally (when new transceivers have mids).
   */
  sy.clientOffer = async (field, input = {}, offerOptions = {}) => {
    const offer = await sy.pc.createOffer(offerOptions);
    await sy.pc.setLocalDescription(offer);
    if (typeof input === 'function') input = input();
    const body = await sy.gql(
      `mutation($input: ${INPUT_TYPES[field]}!) { ${field}(input: $input) { sessionDescription { type sdp } ${field === 'renegotiate' ? '' : TRACKS} } }`,
      { input: { sessionId: sy.sessionId, ...input, sessionDescription: { type: 'OFFER', sdp: offer.sdp } } },
    );
    if (body.errors?.length) {
      await sy.pc.setLocalDescription({ type: 'rollback' });
      return { offerSdp: offer.sdp, errors: body.errors };
    }
    const payload = body.data[field];
    await sy.pc.setRemoteDescription({ type: 'answer', sdp: payload.sessionDescription.sdp });
    return { offerSdp: offer.sdp, answerSdp: payload.sessionDescription.sdp, tracks: payload.tracks ?? [] };
  };

  /**
   * Publishes tracks ([{ trackName, track, codec? }]), each on a new sendonly
   * transceiver: one offer, pushTracks naming each by its mid, the answer.
   * `codec` (e.g. 'video/H264') puts that codec first (setCodecPreferences).
   */
  sy.push = async (tracks) => {
    const sending = tracks.map(({ trackName, track, codec }) => {
      const transceiver = sy.pc.addTransceiver(track, { direction: 'sendonly' });
      if (codec) {
        const codecs = RTCRtpSender.getCapabilities(track.kind).codecs;
        transceiver.setCodecPreferences([...codecs.filter((c) => c.mimeType.toLowerCase() === codec.toLowerCase()), ...codecs.filter((c) => c.mimeType.toLowerCase() !== codec.toLowerCase())]);
      }
      return { trackName, track, transceiver };
    });
    let mids = [];
    const result = await sy.clientOffer('pushTracks', () => {
      mids = sending.map((s) => s.transceiver.mid);
      return { tracks: sending.map((s) => ({ mid: s.transceiver.mid, trackName: s.trackName })) };
    });
    if (!result.errors) for (const s of sending) sy.local.set(s.trackName, s);
    return { mids, ...result };
  };

  /**
   * Applies an SFU offer, answers it and sends the answer (rule 3).
   * `recvonly` names transceivers the client turns to receiving first (a pull into an idle mid).
   */
  sy.answerSfuOffer = async (sdp, { recvonly = [] } = {}) => {
    await sy.pc.setRemoteDescription({ type: 'offer', sdp });
    for (const mid of recvonly) sy.transceiver(mid).direction = 'recvonly';
    const answer = await sy.pc.createAnswer();
    await sy.pc.setLocalDescription(answer);
    await sy.gqlOk(
      `mutation($input: RenegotiateInput!) { renegotiate(input: $input) { session { id } } }`,
      { input: { sessionId: sy.sessionId, sessionDescription: { type: 'ANSWER', sdp: answer.sdp } } },
    );
    return answer.sdp;
  };

  /** pullTracks; the SFU's offer is answered unless `answer: false` (then it is returned, unapplied). */
  sy.pull = async (tracks, { answer = true, recvonly = [] } = {}) => {
    const data = await sy.gqlOk(
      `mutation($input: PullTracksInput!) { pullTracks(input: $input) { requiresImmediateRenegotiation sessionDescription { type sdp } ${TRACKS} } }`,
      { input: { sessionId: sy.sessionId, tracks } },
    );
    const payload = data.pullTracks;
    const offerSdp = payload.sessionDescription?.sdp ?? null;
    let answerSdp = null;
    if (answer && payload.requiresImmediateRenegotiation) answerSdp = await sy.answerSfuOffer(offerSdp, { recvonly });
    return { offerSdp, answerSdp, tracks: payload.tracks };
  };

  /** Plays what the transceiver `mid` receives in a <video> (once per mid). */
  sy.watch = (mid) => {
    if (sy.videos.has(mid)) return;
    const video = document.createElement('video');
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    video.dataset.mid = mid;
    video.srcObject = new MediaStream([sy.transceiver(mid).receiver.track]);
    document.body.append(video);
    video.play().catch(() => undefined);
    sy.videos.set(mid, video);
  };

  /** What the <video> of `mid` shows and how many frames its receiver decoded. */
  sy.playback = async (mid) => {
    const video = sy.videos.get(mid);
    let frames = 0;
    (await sy.transceiver(mid).receiver.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp') frames += s.framesDecoded ?? 0;
    });
    return { width: video?.videoWidth ?? 0, time: video?.currentTime ?? 0, frames };
  };

  /** The ICE candidate pair in use: its id and how many checks the SFU answered on it. */
  sy.selectedPair = async () => {
    const stats = await sy.pc.getStats();
    let pair = null;
    stats.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    return pair && { id: pair.id, state: pair.state, responsesReceived: pair.responsesReceived, localUfrag: stats.get(pair.localCandidateId)?.usernameFragment ?? null };
  };

  return sy;
})();
