import type { AdapterEvent } from '../../adapters/websocket/GuardedAdapters.js';
import { checkConnection, jpegOptions, pcmFormat, type AdapterRequest } from '../../adapters/websocket/requests.js';
import type { WebSocketAdapter } from '../../adapters/websocket/WebSocketAdapter.js';
import { badRequest } from '../../errors.js';
import { builder } from './builder.js';
import { SessionRef } from './types.js';

/** The schema's bound on frameRate; the node's ADAPTER_MAX_JPEG_FRAME_RATE may be lower (WebSocketAdapters checks it). */
const MAX_JPEG_FRAME_RATE = 60;

const LocationEnum = builder.enumType('WebSocketAdapterLocation', {
  description: "Which way media goes, in Cloudflare's terms.",
  values: {
    LOCAL: { value: 'local' as const, description: 'Ingest: the service sends PCM, which a new session publishes as an Opus track.' },
    REMOTE: { value: 'remote' as const, description: 'Egress: a published track goes to the service, as PCM (audio) or JPEG (video).' },
  },
});

const CodecEnum = builder.enumType('WebSocketAdapterCodec', {
  description: 'What the WebSocket messages carry.',
  values: {
    PCM: { value: 'pcm' as const, description: 'PCM s16le, interleaved: 48 kHz stereo (Cloudflare\'s format) unless sampleRate/channels say otherwise. Egress needs an Opus track.' },
    JPEG: { value: 'jpeg' as const, description: 'One JPEG image per message (egress of a video track only), 1 per second unless frameRate says otherwise.' },
  },
});

const StateEnum = builder.enumType('WebSocketAdapterState', {
  description: 'Where an adapter stands.',
  values: {
    CONNECTED: { description: 'The service\'s WebSocket is open and media flows.' },
    RECONNECTING: { description: 'Egress: the service dropped the connection; the SFU connects again to the same URL for up to ADAPTER_RECONNECT_WINDOW_MS (15 s), keeping a short backlog.' },
    CLOSED: { description: 'Closed on request (closeWebSocketAdapter), or its track ended, or the ingest service closed its socket after its audio played.' },
    FAILED: { description: 'Closed without being asked: the service did not come back within the reconnect window, sent what is not a Packet or over 32 KB, or ffmpeg failed. `reason` says which.' },
  },
});

const HeaderInput = builder.inputType('WebSocketHeaderInput', {
  description: 'A header of the upgrade request the SFU sends the service (its credentials, say). Not in Cloudflare\'s API.',
  fields: (t) => ({ name: t.string({ required: true }), value: t.string({ required: true }) }),
});

const CreateInput = builder.inputType('CreateWebSocketAdapterInput', {
  description: 'A WebSocket adapter: the SFU connects to `endpoint` (it is the WebSocket client in both directions) and moves one track\'s media over it as protobuf Packets (docs/adapters.md).',
  fields: (t) => ({
    location: t.field({ type: LocationEnum, required: true }),
    sessionId: t.id({ description: 'REMOTE: the session publishing the track. Ignored for LOCAL (a new session is created).' }),
    trackName: t.string({ required: true, description: 'REMOTE: the published track. LOCAL: the name the new track is published under.' }),
    endpoint: t.string({ required: true, description: 'ws:// or wss:// URL of the service. Loopback, private and link-local addresses only where the operator allows them.' }),
    codec: t.field({ type: CodecEnum, description: 'PCM (default) or JPEG (REMOTE video).' }),
    sampleRate: t.int({ description: 'PCM: 48000 (default), 24000 or 16000 samples per second.' }),
    channels: t.int({ description: 'PCM: 2 (default, interleaved) or 1.' }),
    frameRate: t.float({ description: 'JPEG: images per second, 1 by default.' }),
    width: t.int({ description: 'JPEG: scale to this width (even pixels); the height follows unless given.' }),
    height: t.int({ description: 'JPEG: scale to this height (even pixels); the width follows unless given.' }),
    headers: t.field({ type: [HeaderInput], description: 'Headers of the upgrade request.' }),
    subprotocols: t.stringList({ description: 'Subprotocols offered in Sec-WebSocket-Protocol.' }),
    tags: t.stringList({ description: 'LOCAL: tags of the published track.' }),
  }),
});

type CreateArgs = typeof CreateInput.$inferInput;

/** The GraphQL input as the adapter engine takes it; BAD_REQUEST for what does not fit. */
export function toAdapterRequest(input: CreateArgs): AdapterRequest {
  const headers = input.headers ? Object.fromEntries(input.headers.map((h) => [h.name, h.value])) : undefined;
  if (input.headers && headers && Object.keys(headers).length !== input.headers.length) throw badRequest('headers must have distinct names');
  const connection = { headers, subprotocols: input.subprotocols ?? undefined };
  checkConnection(input.endpoint, connection);
  if (input.trackName.length === 0 || input.trackName.length > 64) throw badRequest('trackName must have 1-64 characters');
  const format = pcmFormat(input.sampleRate, input.channels);
  if (input.location === 'local') {
    if (input.codec === 'jpeg') throw badRequest('a LOCAL (ingest) adapter takes PCM only: video ingest is not supported');
    return { location: 'local', trackName: input.trackName, endpoint: input.endpoint, format, tags: input.tags ?? [], ...connection };
  }
  if (input.sessionId == null || String(input.sessionId).length === 0) throw badRequest('a REMOTE adapter needs the sessionId of the track\'s session');
  const codec = input.codec ?? 'pcm';
  return {
    location: 'remote',
    sessionId: String(input.sessionId),
    trackName: input.trackName,
    endpoint: input.endpoint,
    codec,
    format,
    jpeg: codec === 'jpeg' ? jpegOptions(input.frameRate, input.width, input.height, MAX_JPEG_FRAME_RATE) : { frameRate: 1 },
    ...connection,
  };
}

export const WebSocketAdapterRef = builder.objectRef<WebSocketAdapter>('WebSocketAdapter').implement({
  description: 'A WebSocket adapter: one track\'s media between the SFU and a service that speaks no WebRTC.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The adapterId (Cloudflare\'s API calls it so).' }),
    location: t.field({ type: LocationEnum, resolve: (a) => a.location }),
    sessionId: t.exposeID('sessionId', { description: 'REMOTE: the publishing session. LOCAL: the session created to publish the service\'s audio.' }),
    trackName: t.exposeString('trackName'),
    endpoint: t.string({ description: 'The service\'s URL without its query string (which often carries credentials).', resolve: (a) => a.endpointShown }),
    codec: t.field({ type: CodecEnum, resolve: (a) => a.codec }),
    sampleRate: t.int({ nullable: true, resolve: (a) => a.format?.sampleRate ?? null }),
    channels: t.int({ nullable: true, resolve: (a) => a.format?.channels ?? null }),
    frameRate: t.float({ nullable: true, resolve: (a) => a.jpeg?.frameRate ?? null }),
    state: t.field({ type: StateEnum, resolve: (a) => a.state }),
    reason: t.string({ nullable: true, description: 'CLOSED or FAILED: why.', resolve: (a) => a.reason }),
    bytesProcessed: t.float({ description: 'Payload bytes moved (PCM or JPEG), as Cloudflare\'s close reports it.', resolve: (a) => a.bytesProcessed }),
    createdAt: t.field({ type: 'DateTime', resolve: (a) => a.createdAt }),
    closedAt: t.field({ type: 'DateTime', nullable: true, resolve: (a) => a.closedAt }),
  }),
});

const AdapterEventRef = builder.objectRef<AdapterEvent>('WebSocketAdapterEvent').implement({
  description: 'An adapter connected, is reconnecting, closed or failed.',
  fields: (t) => ({
    type: t.field({ type: StateEnum, resolve: (e) => e.type }),
    adapter: t.field({ type: WebSocketAdapterRef, resolve: (e) => e.adapter }),
    reason: t.string({ nullable: true, resolve: (e) => e.reason }),
    at: t.field({ type: 'DateTime', resolve: (e) => e.at }),
  }),
});

builder.objectField(SessionRef, 'webSocketAdapters', (t) =>
  t.field({
    type: [WebSocketAdapterRef],
    description: 'Open WebSocket adapters of this session\'s tracks that the caller may see.',
    resolve: (session, _args, { adapters }) => adapters.list(session.id),
  }),
);

builder.mutationFields((t) => ({
  createWebSocketAdapter: t.field({
    type: WebSocketAdapterRef,
    description:
      'Connects a service\'s WebSocket to a track: REMOTE sends a published track as PCM or JPEG, LOCAL publishes the PCM the service sends as an Opus track of a new session. Answers once the service accepted the connection. Errors carry extensions.adapterErrorCode with Cloudflare\'s code (websocket_handshake_failed, websocket_connection_timeout, websocket_localhost_not_allowed). A client token needs grant.adapters, and may pull (REMOTE) or publish under that name (LOCAL).',
    args: { input: t.arg({ type: CreateInput, required: true }) },
    resolve: (_root, { input }, { adapters }) => adapters.create(toAdapterRequest(input)),
  }),
  closeWebSocketAdapter: t.field({
    type: WebSocketAdapterRef,
    description: 'Closes an adapter; closing a closed one answers it as it is (idempotent, as Cloudflare\'s close). A LOCAL adapter\'s track is unpublished.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, { adapters }) => adapters.close(String(id)),
  }),
}));

builder.queryFields((t) => ({
  webSocketAdapter: t.field({
    type: WebSocketAdapterRef,
    nullable: true,
    description: 'An adapter by id (open, or closed within the last hour), or null.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, { adapters }) => adapters.get(String(id)),
  }),
}));

builder.subscriptionFields((t) => ({
  webSocketAdapterEvents: t.field({
    type: AdapterEventRef,
    description: 'Changes of the adapters of one session (of its tracks, or the LOCAL adapter that created it): CONNECTED, RECONNECTING, CLOSED, FAILED.',
    args: { sessionId: t.arg.id({ required: true }) },
    subscribe: (_root, { sessionId }, { adapters }) => adapters.events(String(sessionId)),
    resolve: (event) => event,
  }),
}));
