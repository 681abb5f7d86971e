import { invalidParams, itemError } from './errors.js';
import { description, location, optionalArray, optionalBoolean, optionalInteger, optionalObject, optionalString, toDescription, type Json } from './requests.js';
import { mutate, type Answer, type CallContext } from './tracks.js';

interface ChannelResult {
  id: number | null;
  sessionId: string | null;
  name: string | null;
  error: { code: string; message: string } | null;
}
const RESULT = 'dataChannels { id sessionId name error { code message } }';

const item = (where: 'local' | 'remote', r: ChannelResult, operation: 'new' | 'close'): Json => ({
  location: where,
  ...(where === 'remote' && r.sessionId ? { sessionId: r.sessionId } : {}),
  ...(r.name !== null ? { dataChannelName: r.name } : {}),
  ...(r.id !== null ? { id: r.id } : {}),
  ...(r.error ? itemError(r.error.code, r.error.message, operation) : {}),
});

/** POST datachannels/new: publish local channels or subscribe to remote ones; each gets this session's SCTP stream id. */
export async function newDataChannels(context: CallContext): Promise<Answer> {
  const channels = optionalArray(context.body, 'dataChannels') ?? [];
  const where = location(channels, 'dataChannels');
  if (!where) throw invalidParams('datachannels/new needs dataChannels');
  const name = (channel: Json, i: number) => {
    const value = optionalString(channel, 'dataChannelName', `dataChannels[${i}].dataChannelName`);
    if (value === undefined) throw invalidParams(`dataChannels[${i}].dataChannelName is missing`);
    return value;
  };
  if (where === 'local') {
    const requests = channels.map((channel, i) => {
      const ordered = optionalBoolean(channel, 'ordered', `dataChannels[${i}].ordered`);
      const maxRetransmits = optionalInteger(channel, 'maxRetransmits', `dataChannels[${i}].maxRetransmits`);
      const maxPacketLifeTime = optionalInteger(channel, 'maxPacketLifeTime', `dataChannels[${i}].maxPacketLifeTime`);
      return { name: name(channel, i), ...(ordered !== undefined ? { ordered } : {}), ...(maxRetransmits !== undefined ? { maxRetransmits } : {}), ...(maxPacketLifeTime !== undefined ? { maxPacketLifeTime } : {}) };
    });
    const { publishDataChannels } = await mutate<{ publishDataChannels: { dataChannels: ChannelResult[] } }>(
      context,
      `mutation Publish($input: PublishDataChannelsInput!) { publishDataChannels(input: $input) { ${RESULT} } }`,
      { input: { sessionId: context.sessionId, dataChannels: requests } },
    );
    return { status: 200, body: { dataChannels: publishDataChannels.dataChannels.map((r) => item('local', r, 'new')) } };
  }
  const requests = channels.map((channel, i) => {
    if (optionalBoolean(channel, 'waitForAck') || optionalBoolean(channel, 'canReply')) {
      throw invalidParams(`dataChannels[${i}]: waitForAck and canReply are not supported (Switchyard's channels are one way: publish a channel of your own to answer)`);
    }
    const source = optionalString(channel, 'sessionId', `dataChannels[${i}].sessionId`);
    if (source === undefined) throw invalidParams(`dataChannels[${i}].sessionId is missing`);
    return { sessionId: source, name: name(channel, i) };
  });
  const { subscribeDataChannels } = await mutate<{ subscribeDataChannels: { dataChannels: ChannelResult[] } }>(
    context,
    `mutation Subscribe($input: SubscribeDataChannelsInput!) { subscribeDataChannels(input: $input) { ${RESULT} } }`,
    { input: { sessionId: context.sessionId, dataChannels: requests } },
  );
  return { status: 200, body: { dataChannels: subscribeDataChannels.dataChannels.map((r) => item('remote', r, 'new')) } };
}

/** PUT datachannels/close: by this session's ids. */
export async function closeDataChannels(context: CallContext): Promise<Answer> {
  const channels = optionalArray(context.body, 'dataChannels') ?? [];
  const ids = channels.map((channel, i) => {
    const id = optionalInteger(channel, 'id', `dataChannels[${i}].id`);
    if (id === undefined) throw invalidParams(`dataChannels[${i}].id is missing`);
    return id;
  });
  const { closeDataChannels: payload } = await mutate<{ closeDataChannels: { dataChannels: (ChannelResult & { location?: string })[] } }>(
    context,
    `mutation CloseChannels($input: CloseDataChannelsInput!) { closeDataChannels(input: $input) { ${RESULT} } }`,
    { input: { sessionId: context.sessionId, ids } },
  );
  const items = payload.dataChannels.map((r, i) => ({ id: r.id ?? ids[i], ...(r.name !== null ? { dataChannelName: r.name } : {}), ...(r.error ? itemError(r.error.code, r.error.message, 'close') : {}) }));
  return { status: 200, body: { dataChannels: items } };
}

/**
 * POST datachannels/establish: brings up the session's SCTP transport. With
 * the client's offer (a data channel in it) the SFU answers it; without one,
 * the SFU offers a data section (establishDataChannels) and the client
 * answers with renegotiate. The reserved "server-events" channel gets the id
 * of the client's own first channel (Switchyard holds stream ids 0 and 1
 * for it); the SFU sends nothing on it.
 */
export async function establishDataChannels(context: CallContext): Promise<Answer> {
  const channel = optionalObject(context.body, 'dataChannel');
  const channelName = channel ? optionalString(channel, 'dataChannelName', 'dataChannel.dataChannelName') : undefined;
  if (channelName !== undefined && channelName !== 'server-events') throw invalidParams('datachannels/establish only takes the server-events channel');
  const offer = description(context.body);
  if (offer && offer.type !== 'OFFER') throw invalidParams('datachannels/establish takes the client\'s offer, or no sessionDescription (the SFU offers)');
  if (!offer) {
    const { establishDataChannels: payload } = await mutate<{ establishDataChannels: { sessionDescription: { type: 'OFFER' | 'ANSWER'; sdp: string } | null } }>(
      context,
      'mutation Establish($input: EstablishDataChannelsInput!) { establishDataChannels(input: $input) { sessionDescription { type sdp } } }',
      { input: { sessionId: context.sessionId } },
    );
    const sfuOffer = toDescription(payload.sessionDescription);
    // The client answers the SFU's actpass offer as DTLS client (active): its own first channel takes an even id.
    return { status: 200, body: { requiresImmediateRenegotiation: true, ...(sfuOffer ? { sessionDescription: sfuOffer } : {}), dataChannel: { dataChannelName: 'server-events', id: 0 } } };
  }
  const { renegotiate } = await mutate<{ renegotiate: { sessionDescription: { type: 'OFFER' | 'ANSWER'; sdp: string } | null } }>(
    context,
    'mutation Establish($input: RenegotiateInput!) { renegotiate(input: $input) { sessionDescription { type sdp } } }',
    { input: { sessionId: context.sessionId, sessionDescription: offer } },
  );
  const answer = toDescription(renegotiate.sessionDescription);
  // A channel the client opened itself takes its id by DTLS role (RFC 8832 section 6): even for the DTLS client, odd
  // for the server. The SFU answers a=setup:active (it is the DTLS client), so the client's first channel is 1, not 0.
  const id = answer && /^a=setup:active\r?$/m.test(answer.sdp) ? 1 : 0;
  return { status: 200, body: { requiresImmediateRenegotiation: false, ...(answer ? { sessionDescription: answer } : {}), dataChannel: { dataChannelName: 'server-events', id } } };
}
