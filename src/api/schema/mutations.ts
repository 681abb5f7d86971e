import type { PullRequest } from '../../session/types.js';
import { builder } from './builder.js';
import {
  CloseSessionInput,
  CloseTracksInput,
  CreateSessionInput,
  PullTracksInput,
  PushTracksInput,
  RenegotiateInput,
  ResumeSessionInput,
  RollbackOfferInput,
  SetTrackMutedInput,
  UpdateTracksInput,
} from './inputs.js';
import {
  CloseSessionPayloadRef,
  CreateSessionPayloadRef,
  RenegotiatePayloadRef,
  ResumeSessionPayloadRef,
  RollbackOfferPayloadRef,
  SetTrackMutedPayloadRef,
  TracksPayloadRef,
} from './types.js';

type RemoteTrackArg = {
  sessionId: string | number;
  trackName: string;
  mid?: string | null;
  simulcast?: PullRequest['simulcast'];
};

/** A RemoteTrackInput as the session engine takes it (pullTracks and updateTracks alike). */
const toPullRequest = (track: RemoteTrackArg): PullRequest => ({
  sessionId: String(track.sessionId),
  trackName: track.trackName,
  mid: track.mid ?? null,
  simulcast: track.simulcast ?? null,
});

builder.mutationType({
  fields: (t) => ({
    createSession: t.field({
      type: CreateSessionPayloadRef,
      description:
        'Creates a session: one PeerConnection with the SFU. With an offer, the payload carries the SFU\'s answer. A client token needs the createSession grant; the session then belongs to its subject.',
      args: { input: t.arg({ type: CreateSessionInput }) },
      resolve: (_root, { input }, { guard }) =>
        guard.createSession({
          description: input?.sessionDescription ?? null,
          correlationId: input?.correlationId ?? null,
          iceConsentChecks: input?.iceConsentChecks ?? true,
        }),
    }),
    resumeSession: t.field({
      type: ResumeSessionPayloadRef,
      description:
        'Moves a session to a new PeerConnection, on this node or, when its node is draining (MOVE_REQUESTED) or gone, on this one: the same session id, its tracks and data channels published again under the same names (their subscribers keep their transceivers), its pulls made again by the client. Needs the resume secret and a caller that may create sessions and act on this one; FORBIDDEN otherwise, whoever knows the id. Steps: docs/lifecycle.md.',
      args: { input: t.arg({ type: ResumeSessionInput, required: true }) },
      resolve: (_root, { input }, { guard }) =>
        guard.resumeSession({ sessionId: String(input.sessionId), resumeSecret: input.resumeSecret, description: input.sessionDescription ?? null }),
    }),
    pushTracks: t.field({
      type: TracksPayloadRef,
      description:
        'Publishes local tracks. With the client\'s offer: name each new sendonly transceiver by its mid (or use autoDiscover) and apply the ANSWER that comes back. Without an offer: give each track a kind; the SFU returns an OFFER with a recvonly m-section per track (its mid is in the result); set those transceivers to sendonly with the tracks, answer, and send the answer with renegotiate.',
      args: { input: t.arg({ type: PushTracksInput, required: true }) },
      resolve: (_root, { input }, { guard }) =>
        guard.pushTracks({
          sessionId: String(input.sessionId),
          description: input.sessionDescription ?? null,
          tracks: input.tracks ?? null,
          autoDiscover: input.autoDiscover ?? null,
        }),
    }),
    pullTracks: t.field({
      type: TracksPayloadRef,
      description:
        'Pulls tracks of other sessions into new transceivers. The SFU returns an OFFER (requiresImmediateRenegotiation); apply it and send the answer with renegotiate. With the client\'s own offer (sessionDescription), the SFU answers it instead. A track that is not published gets TRACK_NOT_FOUND in its result; one a client token may not pull, FORBIDDEN.',
      args: { input: t.arg({ type: PullTracksInput, required: true }) },
      resolve: (_root, { input }, { guard }) =>
        guard.pullTracks({
          sessionId: String(input.sessionId),
          tracks: input.tracks.map(toPullRequest),
          description: input.sessionDescription ?? null,
        }),
    }),
    renegotiate: t.field({
      type: RenegotiatePayloadRef,
      description:
        'Sends the client\'s ANSWER to the SFU\'s pending offer, or an OFFER of the client\'s own (the SFU answers it). An offer with new ICE credentials (createOffer({ iceRestart: true })) restarts ICE: the answer carries new ones and every push and pull goes on.',
      args: { input: t.arg({ type: RenegotiateInput, required: true }) },
      resolve: (_root, { input }, { guard }) =>
        guard.renegotiate({ sessionId: String(input.sessionId), description: input.sessionDescription }),
    }),
    rollbackOffer: t.field({
      type: RollbackOfferPayloadRef,
      description:
        'Withdraws the SFU\'s pending offer, for a client whose setRemoteDescription refused it. The m-sections that offer added are dropped (their pulls are abandoned), mids it reused or retargeted are left idle, and the session is stable again: push and pull as before. NEGOTIATION_CONFLICT when no SFU offer is waiting.',
      args: { input: t.arg({ type: RollbackOfferInput, required: true }) },
      resolve: (_root, { input }, { guard }) => guard.rollbackOffer(String(input.sessionId)),
    }),
    setTrackMuted: t.field({
      type: SetTrackMutedPayloadRef,
      description:
        'Says that a published track is muted (the client sends nothing on purpose, e.g. replaceTrack(null)) or unmuted. Subscribers see it at once in Track.muted and as MUTED/UNMUTED track events; the track stays published and pulled, and its media resumes on the same transceivers.',
      args: { input: t.arg({ type: SetTrackMutedInput, required: true }) },
      resolve: async (_root, { input }, { guard }) => ({
        track: await guard.setTrackMuted({ sessionId: String(input.sessionId), trackName: input.trackName, muted: input.muted }),
      }),
    }),
    updateTracks: t.field({
      type: TracksPayloadRef,
      description:
        'Changes what pulled transceivers (by mid) carry. The same source with a new simulcast preference applies at once. Another source track replaces the stream on that mid: the SFU returns an OFFER to apply and answer with renegotiate.',
      args: { input: t.arg({ type: UpdateTracksInput, required: true }) },
      resolve: (_root, { input }, { guard }) =>
        guard.updateTracks({
          sessionId: String(input.sessionId),
          tracks: input.tracks.map(toPullRequest),
        }),
    }),
    closeTracks: t.field({
      type: TracksPayloadRef,
      description:
        'Stops tracks by mid: send the offer with those transceivers stopped and apply the ANSWER, or use force to stop the media at once without renegotiation.',
      args: { input: t.arg({ type: CloseTracksInput, required: true }) },
      resolve: (_root, { input }, { guard }) =>
        guard.closeTracks({
          sessionId: String(input.sessionId),
          mids: input.mids,
          description: input.sessionDescription ?? null,
          force: input.force ?? null,
        }),
    }),
    closeSession: t.field({
      type: CloseSessionPayloadRef,
      description: 'Closes the session and unpublishes its tracks; sessions that pulled them see those transceivers go INACTIVE.',
      args: { input: t.arg({ type: CloseSessionInput, required: true }) },
      resolve: async (_root, { input }, { guard }) => {
        const sessionId = String(input.sessionId);
        await guard.closeSession(sessionId);
        return { sessionId };
      },
    }),
  }),
});
