import type { DataChannelResult } from '../../session/dataChannelRequests.js';
import type { DataChannelsOutcome } from '../../session/DataChannels.js';
import type { Session, SessionDataChannel } from '../../session/Session.js';
import type { DataChannelOptions, TrackView } from '../../tracks/PublishedTrack.js';
import { builder } from './builder.js';
import { TrackLocationEnum, TrackStatusEnum } from './enums.js';
import { SessionRef, TrackErrorRef, TrackRef, TracksPayloadRef } from './types.js';

/**
 * Data channels in the API: published, subscribed and closed like tracks,
 * named (sessionId, name), listed in Session.dataChannels, and found with the
 * tracks (Track.kind DATA) in the tracks queries and trackEvents.
 */

const DataChannelOptionsRef = builder.objectRef<DataChannelOptions>('DataChannelOptions').implement({
  description:
    'How a data channel delivers messages. Open the client\'s channel with the same options: pc.createDataChannel(name, { negotiated: true, id, ordered, maxRetransmits, maxPacketLifeTime }).',
  fields: (t) => ({
    ordered: t.exposeBoolean('ordered', { description: 'Messages arrive in the order they were sent.' }),
    maxRetransmits: t.exposeInt('maxRetransmits', { nullable: true, description: 'Partial reliability: a message is given up after this many retransmissions.' }),
    maxPacketLifeTime: t.exposeInt('maxPacketLifeTime', { nullable: true, description: 'Partial reliability: a message is given up after this many milliseconds.' }),
  }),
});

builder.objectField(TrackRef, 'dataChannel', (t) =>
  t.field({
    type: DataChannelOptionsRef,
    nullable: true,
    description: 'For a data channel (kind DATA): how it delivers messages. Null for media tracks.',
    resolve: (track: TrackView) => track.dataChannel ?? null,
  }),
);

const SessionDataChannelRef = builder.objectRef<{ session: Session; channel: SessionDataChannel }>('SessionDataChannel').implement({
  description: 'One data channel of a session: one it publishes (LOCAL) or one it subscribes to (REMOTE).',
  fields: (t) => ({
    id: t.int({
      description: 'The SCTP stream id: the client\'s channel is pc.createDataChannel(name, { negotiated: true, id }).',
      resolve: ({ channel }) => channel.id,
    }),
    location: t.field({ type: TrackLocationEnum, resolve: ({ channel }) => channel.location }),
    status: t.field({
      type: TrackStatusEnum,
      description: 'WAITING until the session\'s SCTP association is up; then the published channel\'s status (ACTIVE while its publisher\'s association is up).',
      resolve: ({ session, channel }, _args, { sessions }) => sessions.data.status(session, channel),
    }),
    dataChannel: t.field({
      type: TrackRef,
      description: 'LOCAL: the data channel this session publishes. REMOTE: the source channel it subscribes to.',
      resolve: ({ channel }) => channel.source,
    }),
  }),
});

builder.objectField(SessionRef, 'dataChannels', (t) =>
  t.field({
    type: [SessionDataChannelRef],
    description: 'The data channels this session publishes and subscribes to, oldest first.',
    resolve: (session: Session) => session.dataChannels.map((channel) => ({ session, channel })),
  }),
);

const DataChannelResultRef = builder.objectRef<DataChannelResult>('DataChannelResult').implement({
  description: 'The outcome for one requested data channel, in request order.',
  fields: (t) => ({
    id: t.exposeInt('id', {
      nullable: true,
      description: 'The SCTP stream id the SFU assigned: open pc.createDataChannel(name, { negotiated: true, id, ...options }). Null when it failed.',
    }),
    sessionId: t.exposeID('sessionId', { nullable: true, description: 'The publishing session.' }),
    name: t.exposeString('name', { nullable: true }),
    options: t.field({ type: DataChannelOptionsRef, nullable: true, resolve: (r) => r.options }),
    error: t.field({ type: TrackErrorRef, nullable: true, resolve: (r) => r.error }),
  }),
});

const DataChannelsPayloadRef = builder.objectRef<DataChannelsOutcome>('DataChannelsPayload').implement({
  fields: (t) => ({
    session: t.field({ type: SessionRef, resolve: (p) => p.session }),
    dataChannels: t.field({ type: [DataChannelResultRef], resolve: (p) => p.dataChannels }),
  }),
});

const LocalDataChannelInput = builder.inputType('LocalDataChannelInput', {
  description: 'A data channel to publish. Reliable and ordered unless maxRetransmits or maxPacketLifeTime is given (then unordered).',
  fields: (t) => ({
    name: t.string({ required: true, description: 'Name others subscribe by; unique among the session\'s tracks and data channels.' }),
    tags: t.stringList({ description: 'Free-form labels, as for tracks: filters, subscriptions and grants match on them.' }),
    ordered: t.boolean({ description: 'Default true; false with partial reliability (which must be unordered).' }),
    maxRetransmits: t.int({ description: 'Partial reliability: give a message up after this many retransmissions (1 to 65535; mediasoup cannot express 0).' }),
    maxPacketLifeTime: t.int({ description: 'Partial reliability: give a message up after this many milliseconds (1 to 65535). Not with maxRetransmits.' }),
  }),
});

const RemoteDataChannelInput = builder.inputType('RemoteDataChannelInput', {
  description: 'A data channel of another session to subscribe to.',
  fields: (t) => ({
    sessionId: t.id({ required: true, description: 'The session that publishes the channel.' }),
    name: t.string({ required: true }),
  }),
});

const PublishDataChannelsInput = builder.inputType('PublishDataChannelsInput', {
  fields: (t) => ({
    sessionId: t.id({ required: true }),
    dataChannels: t.field({ type: [LocalDataChannelInput], required: true }),
  }),
});

const SubscribeDataChannelsInput = builder.inputType('SubscribeDataChannelsInput', {
  fields: (t) => ({
    sessionId: t.id({ required: true }),
    dataChannels: t.field({ type: [RemoteDataChannelInput], required: true }),
  }),
});

const CloseDataChannelsInput = builder.inputType('CloseDataChannelsInput', {
  fields: (t) => ({
    sessionId: t.id({ required: true }),
    ids: t.intList({ required: true, description: 'Ids of the session\'s data channels (SessionDataChannel.id).' }),
  }),
});

const EstablishDataChannelsInput = builder.inputType('EstablishDataChannelsInput', {
  fields: (t) => ({
    sessionId: t.id({ required: true }),
  }),
});

const NEEDS_SCTP =
  'The session needs a data m-section first (a channel created before its first offer, or the SFU\'s first offer answered); otherwise BAD_REQUEST. No SDP round trip is needed: each channel is opened with { negotiated: true, id }, and it opens when the session\'s SCTP association is up.';

builder.mutationFields((t) => ({
  establishDataChannels: t.field({
    type: TracksPayloadRef,
    description:
      'Gives a session that has no data m-section one, so that it can carry data channels: the SFU returns an OFFER with an m=application section (requiresImmediateRenegotiation); apply it, answer with renegotiate, then publish and subscribe channels. For sessions created without any offer; BAD_REQUEST when the session already has one.',
    args: { input: t.arg({ type: EstablishDataChannelsInput, required: true }) },
    resolve: (_root, { input }, { guard }) => guard.establishDataChannels(String(input.sessionId)),
  }),
  publishDataChannels: t.field({
    type: DataChannelsPayloadRef,
    description: `Publishes data channels: for each, the SFU assigns an SCTP stream id; the client sends on pc.createDataChannel(name, { negotiated: true, id, ...options }) and every subscriber receives. Channels appear in trackEvents as tracks of kind DATA. A client token needs a publish grant for the name and tags. ${NEEDS_SCTP}`,
    args: { input: t.arg({ type: PublishDataChannelsInput, required: true }) },
    resolve: (_root, { input }, { guard }) =>
      guard.publishDataChannels({ sessionId: String(input.sessionId), dataChannels: input.dataChannels }),
  }),
  subscribeDataChannels: t.field({
    type: DataChannelsPayloadRef,
    description: `Subscribes to other sessions' data channels: messages published from then on arrive on pc.createDataChannel(name, { negotiated: true, id, ...options }) with the id in the result. Channels are one way: what a subscriber sends on it is dropped (to answer, publish a channel of your own). TRACK_NOT_FOUND, FORBIDDEN or BAD_REQUEST (a media track) per channel. ${NEEDS_SCTP}`,
    args: { input: t.arg({ type: SubscribeDataChannelsInput, required: true }) },
    resolve: (_root, { input }, { guard }) =>
      guard.subscribeDataChannels({
        sessionId: String(input.sessionId),
        dataChannels: input.dataChannels.map((c) => ({ sessionId: String(c.sessionId), name: c.name })),
      }),
  }),
  closeDataChannels: t.field({
    type: DataChannelsPayloadRef,
    description:
      'Closes data channels by id: a published one is unpublished (UNPUBLISHED in trackEvents; its subscribers get DATA_CHANNEL_ENDED and their channels close), a subscription stops. The SFU resets the SCTP stream, so the client\'s channel closes too.',
    args: { input: t.arg({ type: CloseDataChannelsInput, required: true }) },
    resolve: (_root, { input }, { guard }) => guard.closeDataChannels({ sessionId: String(input.sessionId), ids: input.ids }),
  }),
}));
