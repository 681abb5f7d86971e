import type { Session, Transceiver } from '../../session/Session.js';
import type { DescriptionInput, TracksOutcome } from '../../session/SessionService.js';
import type { TrackError, TrackResult } from '../../session/trackResults.js';
import type { TrackView } from '../../events/TrackEventBus.js';
import { trackId } from '../../tracks/trackId.js';
import { builder } from './builder.js';
import { MediaKindEnum, PeerConnectionStateEnum, SdpTypeEnum, TrackLocationEnum, TrackStatusEnum } from './enums.js';

export const SessionDescriptionRef = builder.objectRef<DescriptionInput>('SessionDescription').implement({
  description: 'An SDP offer or answer of the SFU, to apply with setRemoteDescription.',
  fields: (t) => ({
    type: t.expose('type', { type: SdpTypeEnum }),
    sdp: t.exposeString('sdp'),
  }),
});

export const TrackRef = builder.objectRef<TrackView>('Track').implement({
  description: 'A track pushed by a session: the unit that other sessions pull.',
  fields: (t) => ({
    id: t.id({
      description:
        'Stable and unique: the same for this track in every query, event and data channel answer, on every node, so normalized caches (Apollo, urql Graphcache, Relay) key it with no configuration. Its form is "<sessionId>:<name>" (session ids are UUIDs without ":", so the first ":" splits it). A track published again under the same name in the same session has the same id: caches update one entry; compare publishedAt to tell the publications apart.',
      resolve: (track) => trackId(track.sessionId, track.name),
    }),
    sessionId: t.exposeID('sessionId', { description: 'The session that pushes it.' }),
    name: t.exposeString('name', { description: 'Unique within its session.' }),
    kind: t.expose('kind', { type: MediaKindEnum }),
    status: t.expose('status', { type: TrackStatusEnum }),
    tags: t.stringList({ resolve: (track) => [...track.tags] }),
    simulcastRids: t.stringList({
      description: 'RIDs of the simulcast encodings the publisher sends; empty without simulcast.',
      resolve: (track) => [...track.simulcastRids],
    }),
    publishedAt: t.expose('publishedAt', { type: 'DateTime' }),
    muted: t.exposeBoolean('muted', {
      description:
        'The publisher says it sends nothing on purpose (setTrackMuted). A muted track stays published and pulled; show a placeholder.',
    }),
  }),
});

export const ReceivingLayersRef = builder
  .objectRef<{ spatialLayer: number; temporalLayer: number | null; rid: string | null }>('ReceivingLayers')
  .implement({
    description: 'The simulcast layer a subscriber receives now.',
    fields: (t) => ({
      rid: t.exposeString('rid', { nullable: true, description: 'RID of the spatial layer (the publisher\'s encoding).' }),
      spatialLayer: t.exposeInt('spatialLayer', { description: 'Index of the spatial layer, 0 = lowest resolution.' }),
      temporalLayer: t.exposeInt('temporalLayer', {
        nullable: true,
        description: 'Highest temporal layer forwarded (0 = base frame rate; each one above doubles it, up to the full rate sent).',
      }),
    }),
  });

interface SessionTrackShape {
  session: Session;
  transceiver: Transceiver;
  /** Which of the transceiver's tracks: one transceiver carries both after a pull with mid "#name". */
  location: 'LOCAL' | 'REMOTE';
}

export const SessionTrackRef = builder.objectRef<SessionTrackShape>('SessionTrack').implement({
  description: 'One transceiver of a session: a track it pushes (LOCAL) or pulls (REMOTE).',
  fields: (t) => ({
    mid: t.string({ nullable: true, resolve: ({ transceiver }) => transceiver.section.mid }),
    location: t.field({
      type: TrackLocationEnum,
      resolve: ({ location }) => location,
    }),
    status: t.field({
      type: TrackStatusEnum,
      resolve: ({ session, transceiver, location }) => session.transceiverStatus(transceiver, location),
    }),
    layersInDemand: t.stringList({
      nullable: true,
      description:
        'LOCAL simulcast tracks: RIDs of the layers someone watches, lowest first (the publisher may turn the others off; see LAYERS_IN_DEMAND). Null otherwise.',
      resolve: ({ transceiver }, _args, { sessions }) =>
        transceiver.pushed && transceiver.pushed.simulcastRids.length > 1 ? sessions.publisherLayers.ridsInDemand(transceiver.pushed) : null,
    }),
    preferredLayer: t.string({
      nullable: true,
      description: 'REMOTE simulcast tracks: the RID of the layer this subscriber asked for (pullTracks or updateTracks). Null otherwise.',
      resolve: ({ transceiver, location }) => (location === 'REMOTE' ? transceiver.pulled?.simulcast?.preferredRid ?? null : null),
    }),
    receivingLayers: t.field({
      type: ReceivingLayersRef,
      nullable: true,
      description:
        'REMOTE simulcast tracks: the layer this subscriber receives now, which is below the preferred one while the publisher does not send it or the subscriber\'s bandwidth does not allow it. Null while nothing is forwarded, and for other tracks.',
      resolve: ({ transceiver, location }) => (location === 'REMOTE' && transceiver.pulled && !transceiver.pulled.ended ? transceiver.pulled.simulcast?.currentLayers ?? null : null),
    }),
    track: t.field({
      type: TrackRef,
      description: 'LOCAL: the track this session publishes. REMOTE: the source track it pulls.',
      resolve: ({ transceiver, location }) => {
        const track = location === 'LOCAL' ? transceiver.pushed : transceiver.pulled?.source;
        if (!track) throw new Error('transceiver carries no track');
        return track;
      },
    }),
  }),
});

export const SessionRef = builder.objectRef<Session>('Session').implement({
  description: 'One client\'s PeerConnection with the SFU, over which it pushes and pulls tracks.',
  fields: (t) => ({
    id: t.exposeID('id'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    correlationId: t.exposeString('correlationId', {
      nullable: true,
      description: 'Free-form id given by the application at creation (e.g. its user id), for logs and lookups.',
    }),
    connectionState: t.field({ type: PeerConnectionStateEnum, resolve: (session) => session.connectionState }),
    pendingOffer: t.field({
      type: SessionDescriptionRef,
      nullable: true,
      description: 'The SFU\'s offer while it waits for the client\'s answer (after RENEGOTIATION_NEEDED); null when none is waiting.',
      resolve: (session) => (session.pendingOffer ? { type: 'offer' as const, sdp: session.pendingOffer } : null),
    }),
    tracks: t.field({
      type: [SessionTrackRef],
      description:
        'The transceivers of this session\'s PeerConnection, in m-line order. A transceiver that carries media both ways (a pull with mid "#trackName") appears twice, LOCAL and REMOTE, with the same mid.',
      resolve: (session) =>
        session.transceivers.flatMap((transceiver) => [
          ...(transceiver.pushed ? [{ session, transceiver, location: 'LOCAL' as const }] : []),
          ...(transceiver.pulled ? [{ session, transceiver, location: 'REMOTE' as const }] : []),
        ]),
    }),
  }),
});

export const TrackErrorRef = builder.objectRef<TrackError>('TrackError').implement({
  description: 'Why one track of a multi-track operation failed; the other tracks went ahead.',
  fields: (t) => ({
    code: t.exposeString('code', { description: 'One of the contract\'s error codes, e.g. TRACK_NOT_FOUND.' }),
    message: t.exposeString('message'),
  }),
});

export const TrackResultRef = builder.objectRef<TrackResult>('TrackResult').implement({
  description: 'The outcome for one requested track, in request order.',
  fields: (t) => ({
    mid: t.exposeString('mid', { nullable: true, description: 'The transceiver that carries the track.' }),
    sessionId: t.exposeID('sessionId', { nullable: true }),
    trackName: t.exposeString('trackName', { nullable: true }),
    error: t.field({ type: TrackErrorRef, nullable: true, resolve: (r) => r.error }),
  }),
});

export const CreateSessionPayloadRef = builder
  .objectRef<{ session: Session; description: DescriptionInput | null; resumeSecret: string | null }>('CreateSessionPayload')
  .implement({
    fields: (t) => ({
      session: t.field({ type: SessionRef, resolve: (p) => p.session }),
      sessionDescription: t.field({
        type: SessionDescriptionRef,
        nullable: true,
        description: 'The SFU\'s answer when the input carried an offer.',
        resolve: (p) => p.description,
      }),
      resumeSecret: t.string({
        nullable: true,
        description:
          'Keep it with the session, and only there: resumeSession needs it to move the session to a new PeerConnection or node (when its node drains or dies). Given only here; the SFU keeps its hash. Knowing the session id is not enough to resume it.',
        resolve: (p) => p.resumeSecret,
      }),
    }),
  });

export const ResumeSessionPayloadRef = builder
  .objectRef<{ session: Session; description: DescriptionInput | null; nodeUrl: string | null; movedTrackNames: string[] }>('ResumeSessionPayload')
  .implement({
    fields: (t) => ({
      session: t.field({ type: SessionRef, resolve: (p) => p.session }),
      sessionDescription: t.field({ type: SessionDescriptionRef, nullable: true, description: 'The SFU\'s answer to the new PeerConnection\'s offer.', resolve: (p) => p.description }),
      nodeUrl: t.string({
        nullable: true,
        description: 'The public URL (PUBLIC_URL) of the node that holds the session now, where its client\'s later calls and its event subscription are best sent; null when that node has none (keep using the URL you used).',
        resolve: (p) => p.nodeUrl,
      }),
      movedTrackNames: t.stringList({
        description:
          'Names of the tracks and data channels the session published before the move. Publish each again under the same name within SESSION_RESUME_GRACE_MS: its subscribers follow it (a MOVED track event, no UNPUBLISHED). One not published again by then is unpublished.',
        resolve: (p) => p.movedTrackNames,
      }),
    }),
  });

export const TracksPayloadRef = builder.objectRef<TracksOutcome>('TracksPayload').implement({
  fields: (t) => ({
    session: t.field({ type: SessionRef, resolve: (p) => p.session }),
    requiresImmediateRenegotiation: t.exposeBoolean('requiresImmediateRenegotiation', {
      description: 'True when the client must apply sessionDescription (an OFFER) and send its answer with renegotiate.',
    }),
    sessionDescription: t.field({
      type: SessionDescriptionRef,
      nullable: true,
      description: 'ANSWER to the client\'s offer, or the SFU\'s OFFER when it needs to renegotiate.',
      resolve: (p) => p.description,
    }),
    tracks: t.field({ type: [TrackResultRef], resolve: (p) => p.tracks }),
  }),
});

export const RenegotiatePayloadRef = builder
  .objectRef<{ session: Session; description: DescriptionInput | null }>('RenegotiatePayload')
  .implement({
    fields: (t) => ({
      session: t.field({ type: SessionRef, resolve: (p) => p.session }),
      sessionDescription: t.field({
        type: SessionDescriptionRef,
        nullable: true,
        description: 'The SFU\'s answer when the client sent an offer; null when the client sent an answer.',
        resolve: (p) => p.description,
      }),
    }),
  });

export const RollbackOfferPayloadRef = builder
  .objectRef<{ session: Session; withdrawnMids: string[] }>('RollbackOfferPayload')
  .implement({
    fields: (t) => ({
      session: t.field({ type: SessionRef, resolve: (p) => p.session }),
      withdrawnMids: t.stringList({
        description:
          'The m-sections the withdrawn offer added (now gone: their pulls are abandoned) or changed (now idle, with TRACK_ENDED).',
        resolve: (p) => p.withdrawnMids,
      }),
    }),
  });

export const SetTrackMutedPayloadRef = builder.objectRef<{ track: TrackView }>('SetTrackMutedPayload').implement({
  fields: (t) => ({
    track: t.field({ type: TrackRef, resolve: (p) => p.track }),
  }),
});

export const CloseSessionPayloadRef = builder.objectRef<{ sessionId: string }>('CloseSessionPayload').implement({
  fields: (t) => ({
    sessionId: t.exposeID('sessionId'),
  }),
});
