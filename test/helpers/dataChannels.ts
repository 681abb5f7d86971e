import { gqlOk } from './graphql.js';
import type { TestPeer } from './peer.js';

/** What publishDataChannels and subscribeDataChannels answer for one channel. */
export interface DataChannelResultData {
  id: number | null;
  sessionId: string | null;
  name: string | null;
  options: { ordered: boolean; maxRetransmits: number | null; maxPacketLifeTime: number | null } | null;
  error: { code: string; message: string } | null;
}

const RESULT = 'dataChannels { id sessionId name options { ordered maxRetransmits maxPacketLifeTime } error { code message } }';
export const PUBLISH_DATA = `mutation($input: PublishDataChannelsInput!) { publishDataChannels(input: $input) { ${RESULT} } }`;
export const SUBSCRIBE_DATA = `mutation($input: SubscribeDataChannelsInput!) { subscribeDataChannels(input: $input) { ${RESULT} } }`;
export const CLOSE_DATA = `mutation($input: CloseDataChannelsInput!) { closeDataChannels(input: $input) { ${RESULT} } }`;

type Options = { tags?: string[]; ordered?: boolean; maxRetransmits?: number; maxPacketLifeTime?: number };

/** Publishes data channels of `peer`'s session through the API; the results in request order. */
export async function publishData(peer: TestPeer, channels: ({ name: string } & Options)[], credential?: string): Promise<DataChannelResultData[]> {
  const data = await gqlOk(peer.url, PUBLISH_DATA, { input: { sessionId: peer.sessionId, dataChannels: channels } }, credential);
  return data.publishDataChannels.dataChannels;
}

/** Subscribes `peer`'s session to other sessions' data channels. */
export async function subscribeData(peer: TestPeer, channels: { sessionId: string; name: string }[], credential?: string): Promise<DataChannelResultData[]> {
  const data = await gqlOk(peer.url, SUBSCRIBE_DATA, { input: { sessionId: peer.sessionId, dataChannels: channels } }, credential);
  return data.subscribeDataChannels.dataChannels;
}

/** The client's side of a channel the SFU assigned: negotiated, with the id and options of the result. */
export function openNegotiated(peer: TestPeer, result: DataChannelResultData): RTCDataChannel {
  if (result.id === null || !result.options || !result.name) throw new Error(`no channel: ${JSON.stringify(result.error)}`);
  const { ordered, maxRetransmits, maxPacketLifeTime } = result.options;
  const channel = peer.pc.createDataChannel(result.name, {
    negotiated: true,
    id: result.id,
    ordered,
    ...(maxRetransmits !== null ? { maxRetransmits } : {}),
    ...(maxPacketLifeTime !== null ? { maxPacketLifeTime } : {}),
  });
  channel.binaryType = 'arraybuffer';
  return channel;
}

/** Resolves when the channel is open. */
export const opened = (channel: RTCDataChannel, timeoutMs = 10_000) => reaches(channel, 'open', timeoutMs);

/** Resolves when the channel is closed. */
export const closed = (channel: RTCDataChannel, timeoutMs = 10_000) => reaches(channel, 'closed', timeoutMs);

/** Resolves when the channel is in `state` (its open or close event), or fails after `timeoutMs`. */
function reaches(channel: RTCDataChannel, state: 'open' | 'closed', timeoutMs: number): Promise<void> {
  if (channel.readyState === state) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`channel ${channel.label} is not ${state} after ${timeoutMs} ms (${channel.readyState})`)), timeoutMs);
    channel.addEventListener(state === 'open' ? 'open' : 'close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Everything a channel receives, in order: strings as strings, binary as Uint8Array. */
export function inbox(channel: RTCDataChannel): (string | Uint8Array)[] {
  const messages: (string | Uint8Array)[] = [];
  channel.addEventListener('message', (event: MessageEvent) => {
    messages.push(typeof event.data === 'string' ? event.data : new Uint8Array(event.data as ArrayBuffer));
  });
  return messages;
}
