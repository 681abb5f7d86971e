/** The GraphQL operations the SDK sends; names and shapes follow Switchyard's API contract. */
const TRACK_RESULTS = 'tracks { mid sessionId trackName error { code message } }';
const SESSION = 'session { id connectionState }';

export const CREATE_SESSION = `mutation SwitchyardCreateSession($input: CreateSessionInput) {
  createSession(input: $input) { ${SESSION} sessionDescription { type sdp } resumeSecret }
}`;

export const RESUME_SESSION = `mutation SwitchyardResumeSession($input: ResumeSessionInput!) {
  resumeSession(input: $input) { ${SESSION} sessionDescription { type sdp } nodeUrl movedTrackNames }
}`;

/** Whether the session's node answers for it (after the PeerConnection was lost). */
export const SESSION_ALIVE = `query SwitchyardSessionAlive($id: ID!) { session(id: $id) { id } }`;

export const PUSH_TRACKS = `mutation SwitchyardPushTracks($input: PushTracksInput!) {
  pushTracks(input: $input) { requiresImmediateRenegotiation sessionDescription { type sdp } ${TRACK_RESULTS} }
}`;

export const PULL_TRACKS = `mutation SwitchyardPullTracks($input: PullTracksInput!) {
  pullTracks(input: $input) { requiresImmediateRenegotiation sessionDescription { type sdp } ${TRACK_RESULTS} }
}`;

export const UPDATE_TRACKS = `mutation SwitchyardUpdateTracks($input: UpdateTracksInput!) {
  updateTracks(input: $input) { requiresImmediateRenegotiation sessionDescription { type sdp } ${TRACK_RESULTS} }
}`;

export const CLOSE_TRACKS = `mutation SwitchyardCloseTracks($input: CloseTracksInput!) {
  closeTracks(input: $input) { sessionDescription { type sdp } ${TRACK_RESULTS} }
}`;

export const RENEGOTIATE = `mutation SwitchyardRenegotiate($input: RenegotiateInput!) {
  renegotiate(input: $input) { sessionDescription { type sdp } }
}`;

export const CLOSE_SESSION = `mutation SwitchyardCloseSession($input: CloseSessionInput!) {
  closeSession(input: $input) { sessionId }
}`;

export const PENDING_OFFER = `query SwitchyardPendingOffer($id: ID!) {
  session(id: $id) { id pendingOffer { type sdp } }
}`;

/** Withdraws the SFU's pending offer after the browser could not apply it. */
export const ROLLBACK_OFFER = `mutation SwitchyardRollbackOffer($input: RollbackOfferInput!) {
  rollbackOffer(input: $input) { ${SESSION} withdrawnMids }
}`;

export const SESSION_TRACKS = `query SwitchyardSessionTracks($id: ID!) {
  session(id: $id) { tracks { mid location track { sessionId name } } }
}`;

export const SESSION_EVENTS = `subscription SwitchyardSessionEvents($id: ID!) {
  sessionEvents(sessionId: $id) { type mid layersInDemand dataChannelId dataChannelEndReason quality speaker { sessionId name } moveTo session { connectionState } }
}`;

export const SESSION_LAYERS = `query SwitchyardSessionLayers($id: ID!) {
  session(id: $id) { tracks { mid location layersInDemand preferredLayer receivingLayers { rid spatialLayer temporalLayer } } }
}`;

export const SESSION_QUALITY = `query SwitchyardSessionQuality($id: ID!) { session(id: $id) { quality } }`;

export const SESSION_STATS = `query SwitchyardSessionStats($id: ID!) {
  session(id: $id) { stats { at quality score bitrateIn bitrateOut availableOutgoingBitrate roundTripTime
    tracks { mid location kind trackSessionId trackName bitrate bytes packets packetsLost fractionLost jitter roundTripTime nackCount pliCount firCount score layer { rid spatialLayer temporalLayer } } } }
}`;

const TRACK_FIELDS = 'id sessionId name kind status muted tags simulcastRids dataChannel { ordered maxRetransmits maxPacketLifeTime }';

export const TRACK_SNAPSHOT = `query SwitchyardTrackSnapshot($filter: TrackFilter) {
  trackSnapshot(filter: $filter) { cursor tracks { ${TRACK_FIELDS} } }
}`;

export const TRACK_EVENTS = `subscription SwitchyardTrackEvents($filter: TrackFilter, $after: String) {
  trackEvents(filter: $filter, after: $after) { cursor type track { ${TRACK_FIELDS} } }
}`;

export const SET_TRACK_MUTED = `mutation SwitchyardSetTrackMuted($input: SetTrackMutedInput!) {
  setTrackMuted(input: $input) { track { ${TRACK_FIELDS} } }
}`;

const DATA_CHANNEL_RESULTS = 'dataChannels { id sessionId name options { ordered maxRetransmits maxPacketLifeTime } error { code message } }';

export const PUBLISH_DATA_CHANNELS = `mutation SwitchyardPublishDataChannels($input: PublishDataChannelsInput!) {
  publishDataChannels(input: $input) { ${DATA_CHANNEL_RESULTS} }
}`;

export const SUBSCRIBE_DATA_CHANNELS = `mutation SwitchyardSubscribeDataChannels($input: SubscribeDataChannelsInput!) {
  subscribeDataChannels(input: $input) { ${DATA_CHANNEL_RESULTS} }
}`;

export const CLOSE_DATA_CHANNELS = `mutation SwitchyardCloseDataChannels($input: CloseDataChannelsInput!) {
  closeDataChannels(input: $input) { ${DATA_CHANNEL_RESULTS} }
}`;

export const ICE_SERVERS = `query SwitchyardIceServers($ttlSeconds: Int) {
  iceServers(ttlSeconds: $ttlSeconds) { iceServers { urls username credential } expiresAt }
}`;
