import { builder } from './builder.js';
import { MediaKindEnum, SdpTypeEnum, SimulcastFallbackEnum } from './enums.js';

export const SessionDescriptionInput = builder.inputType('SessionDescriptionInput', {
  description: 'An SDP offer or answer of the client, as its PeerConnection produced it.',
  fields: (t) => ({
    type: t.field({ type: SdpTypeEnum, required: true }),
    sdp: t.string({ required: true }),
  }),
});

export const LocalTrackInput = builder.inputType('LocalTrackInput', {
  description: 'A track to publish from this session.',
  fields: (t) => ({
    mid: t.string({
      description:
        'mid of the sendonly/sendrecv transceiver in the offer. Optional with autoDiscover or when the SFU makes the offer.',
    }),
    trackName: t.string({ required: true, description: 'Name others pull it by; unique within the session.' }),
    kind: t.field({ type: MediaKindEnum, description: 'Required when there is no offer (the SFU generates one).' }),
    tags: t.stringList({
      description: 'Free-form labels (e.g. room:lobby, user:42) that filters and subscriptions match on.',
    }),
  }),
});

export const SimulcastInput = builder.inputType('SimulcastInput', {
  description: 'Which simulcast layer a subscriber wants.',
  fields: (t) => ({
    preferredRid: t.string({ description: 'RID of the preferred layer, e.g. h.' }),
    fallback: t.field({ type: SimulcastFallbackEnum }),
  }),
});

export const RemoteTrackInput = builder.inputType('RemoteTrackInput', {
  description: 'A track of another session to pull.',
  fields: (t) => ({
    sessionId: t.id({ required: true, description: 'The session that pushes the track.' }),
    trackName: t.string({ required: true }),
    mid: t.string({
      description:
        'Reuse an existing transceiver: its mid, or #trackName of one of this session\'s local tracks (its transceiver must be sendrecv; it then carries that track out and this one back). With the client\'s offer (PullTracksInput.sessionDescription): the mid of a receiving transceiver in that offer.',
    }),
    simulcast: t.field({ type: SimulcastInput }),
  }),
});

export const CreateSessionInput = builder.inputType('CreateSessionInput', {
  fields: (t) => ({
    sessionDescription: t.field({
      type: SessionDescriptionInput,
      description: 'An offer for the session\'s PeerConnection; may carry only a data m-line.',
    }),
    correlationId: t.string({ description: 'Free-form id of the application\'s (e.g. its user id), up to 256 characters.' }),
    iceConsentChecks: t.boolean({
      description:
        'false for clients that send no ICE consent checks once connected (GStreamer 1.22\'s webrtcbin, behind WHIP): the SFU then does not drop the connection after ICE_CONSENT_TIMEOUT_S, and closes the session instead when all its published tracks have had no media, or nothing at all has arrived from the client, for TRACK_INACTIVE_AFTER_MS + RECONNECT_GRACE_MS. Only the app secret (and the WHIP endpoint) may ask for it: a client token gets FORBIDDEN. Default true (browsers and libwebrtc check consent every few seconds).',
    }),
  }),
});

export const ResumeSessionInput = builder.inputType('ResumeSessionInput', {
  description: 'Resumes a session on a new PeerConnection, on this node or another (docs/lifecycle.md): after MOVE_REQUESTED, or when its node stopped answering.',
  fields: (t) => ({
    sessionId: t.id({ required: true }),
    resumeSecret: t.string({ required: true, description: 'The secret createSession gave (CreateSessionPayload.resumeSecret). It stays the same across moves.' }),
    sessionDescription: t.field({
      type: SessionDescriptionInput,
      description: 'The new PeerConnection\'s offer (a data m-line is enough; publish and pull again after). The payload carries the SFU\'s answer.',
    }),
  }),
});

export const PushTracksInput = builder.inputType('PushTracksInput', {
  fields: (t) => ({
    sessionId: t.id({ required: true }),
    sessionDescription: t.field({
      type: SessionDescriptionInput,
      description: 'The client\'s offer. Without it the SFU generates an offer for the given kinds.',
    }),
    tracks: t.field({ type: [LocalTrackInput] }),
    autoDiscover: t.boolean({ description: 'Publish every new sending transceiver of the offer, named by the SFU.' }),
  }),
});

export const PullTracksInput = builder.inputType('PullTracksInput', {
  fields: (t) => ({
    sessionId: t.id({ required: true, description: 'The session that pulls.' }),
    tracks: t.field({ type: [RemoteTrackInput], required: true }),
    sessionDescription: t.field({
      type: SessionDescriptionInput,
      description:
        "The client's OFFER with a receiving (recvonly) transceiver for each track, named by each track's mid: the SFU answers it with the media, no renegotiation (WHEP players pull this way). The SFU sends with its own payload types, so the offer must number the codec as the SFU does (libwebrtc's default numbering, as in Chrome, Safari and Edge); otherwise that track's result says so. Without it, the SFU offers.",
    }),
  }),
});

export const UpdateTracksInput = builder.inputType('UpdateTracksInput', {
  fields: (t) => ({
    sessionId: t.id({ required: true }),
    tracks: t.field({
      type: [RemoteTrackInput],
      required: true,
      description: 'Each entry retargets the transceiver named by mid to another source track.',
    }),
  }),
});

export const RenegotiateInput = builder.inputType('RenegotiateInput', {
  fields: (t) => ({
    sessionId: t.id({ required: true }),
    sessionDescription: t.field({ type: SessionDescriptionInput, required: true }),
  }),
});

export const CloseTracksInput = builder.inputType('CloseTracksInput', {
  fields: (t) => ({
    sessionId: t.id({ required: true }),
    mids: t.stringList({ required: true }),
    sessionDescription: t.field({
      type: SessionDescriptionInput,
      description: 'The client\'s offer with these transceivers stopped.',
    }),
    force: t.boolean({ description: 'Stop the media now without renegotiation.' }),
  }),
});

export const CloseSessionInput = builder.inputType('CloseSessionInput', {
  fields: (t) => ({
    sessionId: t.id({ required: true }),
  }),
});

export const RollbackOfferInput = builder.inputType('RollbackOfferInput', {
  fields: (t) => ({
    sessionId: t.id({ required: true }),
  }),
});

export const SetTrackMutedInput = builder.inputType('SetTrackMutedInput', {
  fields: (t) => ({
    sessionId: t.id({ required: true, description: 'The publishing session.' }),
    trackName: t.string({ required: true, description: 'One of its published tracks.' }),
    muted: t.boolean({ required: true }),
  }),
});

export const TrackFilterInput = builder.inputType('TrackFilter', {
  description: 'Selects published tracks; every condition given must hold.',
  fields: (t) => ({
    sessionIds: t.idList(),
    tags: t.stringList({ description: 'A track matches when it carries every tag listed.' }),
    kind: t.field({ type: MediaKindEnum }),
  }),
});
