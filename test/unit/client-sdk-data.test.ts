import { describe, expect, it } from 'vitest';
import { SwitchyardError } from '../../client/src/errors.js';
import { connect, type FakeDataChannel, type Handler, sfu } from '../helpers/fakeSfu.js';

/**
 * Data channels in the SDK (client/src/DataChannels.ts) against a scripted
 * SFU (test/helpers/fakeSfu.ts): what publishData, subscribeData and
 * closeData send, how the negotiated channel is opened from the SFU's
 * answer, and what is undone when something fails. Real channels between
 * Chromium pages are in test/e2e/data-chat.test.ts.
 */

const RELIABLE = { ordered: true, maxRetransmits: null, maxPacketLifeTime: null };
const result = (id: number | null, name: string, options: unknown = RELIABLE, error: unknown = null, sessionId = 'session-1') => ({ id, sessionId, name, options, error });

function dataSfu(overrides: Record<string, Handler> = {}) {
  return sfu({
    PublishDataChannels: (v) => ({ publishDataChannels: { dataChannels: [result(4, v.input.dataChannels[0].name)] } }),
    SubscribeDataChannels: (v) => ({ subscribeDataChannels: { dataChannels: [result(7, v.input.dataChannels[0].name, RELIABLE, null, v.input.dataChannels[0].sessionId)] } }),
    CloseDataChannels: (v) => ({ closeDataChannels: { dataChannels: v.input.ids.map((id: number) => result(id, 'chat')) } }),
    ...overrides,
  });
}

describe('Switchyard (SDK): data channels', () => {
  it('publishData sends name, tags and options, and opens the negotiated channel with the id and options the SFU assigned, without renegotiating', async () => {
    const transport = dataSfu({
      PublishDataChannels: () => ({ publishDataChannels: { dataChannels: [result(12, 'telemetry', { ordered: false, maxRetransmits: 3, maxPacketLifeTime: null })] } }),
    });
    const { client, pc } = await connect(transport);
    const channel = (await client.publishData('telemetry', { tags: ['room:a'], maxRetransmits: 3 })) as unknown as FakeDataChannel;
    expect(transport.requests.at(-1)).toEqual({
      operation: 'PublishDataChannels',
      variables: { input: { sessionId: 'session-1', dataChannels: [{ name: 'telemetry', tags: ['room:a'], maxRetransmits: 3 }] } },
    });
    expect(channel.label).toBe('telemetry');
    expect(channel.init).toEqual({ negotiated: true, id: 12, ordered: false, maxRetransmits: 3 });
    expect(channel.binaryType).toBe('arraybuffer');
    expect(pc.log).toEqual(['local offer', 'remote answer']); // only connect's offer/answer
  });

  it('does not wait behind a negotiation: a channel is published while a pull renegotiates', async () => {
    const transport = dataSfu();
    const { client } = await connect(transport);
    transport.delayMs = 20;
    const pulling = client.pull('other', 'camera');
    const channel = await client.publishData('chat');
    expect(channel.id).toBe(4);
    // Published before the pull had even sent its answer: the channel never queued behind it.
    expect(transport.operations()).not.toContain('Renegotiate');
    await pulling;
    expect(transport.operations().slice(1).sort()).toEqual(['PublishDataChannels', 'PullTracks', 'Renegotiate']);
    expect(transport.operations().at(-1)).toBe('Renegotiate');
  });

  it('a refused channel rejects with its contract code and opens nothing', async () => {
    const transport = dataSfu({
      PublishDataChannels: () => ({ publishDataChannels: { dataChannels: [result(null, 'chat', null, { code: 'FORBIDDEN', message: 'may not publish chat' })] } }),
      SubscribeDataChannels: () => ({ subscribeDataChannels: { dataChannels: [result(null, 'chat', null, { code: 'TRACK_NOT_FOUND', message: 'no such channel' }, 'other')] } }),
    });
    const { client, pc } = await connect(transport);
    await expect(client.publishData('chat')).rejects.toMatchObject({ name: 'SwitchyardError', code: 'FORBIDDEN', message: 'may not publish chat' });
    await expect(client.subscribeData('other', 'chat')).rejects.toMatchObject({ code: 'TRACK_NOT_FOUND' });
    expect(pc.channels).toEqual([]);
  });

  it('a failed call (not one channel) keeps the SFU\'s code', async () => {
    const transport = dataSfu({
      SubscribeDataChannels: () => {
        throw new SwitchyardError('RATE_LIMITED', 'slow down');
      },
    });
    const { client } = await connect(transport);
    await expect(client.subscribeData('other', 'chat')).rejects.toMatchObject({ code: 'RATE_LIMITED' });
  });

  it('when the browser will not open the assigned id, the channel is closed at the SFU too', async () => {
    const transport = dataSfu();
    const { client, pc } = await connect(transport);
    pc.refuseNextChannel = new Error('RTCDataChannel id 4 is already in use');
    await expect(client.publishData('chat')).rejects.toMatchObject({ code: 'INTERNAL', message: 'RTCDataChannel id 4 is already in use' });
    expect(transport.requests.at(-1)).toEqual({ operation: 'CloseDataChannels', variables: { input: { sessionId: 'session-1', ids: [4] } } });
  });

  it('subscribeData opens the channel on the id of the subscription', async () => {
    const transport = dataSfu();
    const { client } = await connect(transport);
    const channel = (await client.subscribeData('other', 'chat')) as unknown as FakeDataChannel;
    expect(transport.requests.at(-1)!.variables.input).toEqual({ sessionId: 'session-1', dataChannels: [{ sessionId: 'other', name: 'chat' }] });
    expect(channel.init).toEqual({ negotiated: true, id: 7, ordered: true });
  });

  it('closeData closes at the SFU and here; a channel the SFU no longer holds is only closed here', async () => {
    const transport = dataSfu();
    const { client } = await connect(transport);
    const channel = (await client.publishData('chat')) as unknown as FakeDataChannel;
    await client.closeData(channel as unknown as RTCDataChannel);
    expect(transport.requests.at(-1)).toEqual({ operation: 'CloseDataChannels', variables: { input: { sessionId: 'session-1', ids: [4] } } });
    expect(channel.readyState).toBe('closed');
    // Closing it again sends nothing.
    const count = transport.requests.length;
    await client.closeData(channel as unknown as RTCDataChannel);
    expect(transport.requests).toHaveLength(count);

    transport.handlers.CloseDataChannels = () => ({ closeDataChannels: { dataChannels: [result(7, 'chat', null, { code: 'TRACK_NOT_FOUND', message: 'gone' })] } });
    const subscribed = await client.subscribeData('other', 'chat');
    await expect(client.closeData(subscribed)).resolves.toBeUndefined();
    expect(subscribed.readyState).toBe('closed');
  });

  it('closeData rejects a channel the SDK did not open, and passes on the SFU\'s refusal after closing the channel here', async () => {
    const transport = dataSfu({
      CloseDataChannels: () => ({ closeDataChannels: { dataChannels: [result(4, 'chat', null, { code: 'FORBIDDEN', message: 'no' })] } }),
    });
    const { client } = await connect(transport);
    const foreign = { id: 9, label: 'mine', close: () => undefined } as unknown as RTCDataChannel;
    await expect(client.closeData(foreign)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    const channel = await client.publishData('chat');
    await expect(client.closeData(channel)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(channel.readyState).toBe('closed');
  });

  it('DATA_CHANNEL_ENDED closes the subscribed channel and is reported; closeData on it afterwards sends nothing', async () => {
    const transport = dataSfu();
    const { client } = await connect(transport);
    const ended: { id: number; channel: RTCDataChannel | undefined; reason: string }[] = [];
    client.on('datachannelended', (event) => ended.push(event));
    const channel = await client.subscribeData('other', 'chat');
    transport.sinks.get('SessionEvents')!.next({ sessionEvents: { type: 'DATA_CHANNEL_ENDED', mid: null, dataChannelId: 7, dataChannelEndReason: 'OVERFLOW' } });
    expect(ended).toEqual([{ id: 7, channel, reason: 'OVERFLOW' }]);
    expect(channel.readyState).toBe('closed');
    const count = transport.requests.length;
    await client.closeData(channel);
    expect(transport.requests).toHaveLength(count);
  });

  it('a channel whose end overtook the answer to its subscribeData is closed at once', async () => {
    const transport = dataSfu();
    const { client } = await connect(transport);
    transport.delayMs = 20;
    const subscribing = client.subscribeData('other', 'chat');
    await new Promise((resolve) => setTimeout(resolve, 5));
    transport.sinks.get('SessionEvents')!.next({ sessionEvents: { type: 'DATA_CHANNEL_ENDED', mid: null, dataChannelId: 7 } });
    const channel = await subscribing;
    expect(channel.readyState).toBe('closed');
    // Once the answer came, the early end is forgotten: a later subscription on the same id (the SFU reuses ids) stays open.
    expect((await client.subscribeData('third', 'chat')).readyState).toBe('connecting');
  });

  it('after leave, data channel calls fail with SESSION_NOT_FOUND', async () => {
    const transport = dataSfu();
    const { client } = await connect(transport);
    await client.leave();
    await expect(client.publishData('chat')).rejects.toMatchObject({ code: 'SESSION_NOT_FOUND' });
    await expect(client.subscribeData('other', 'chat')).rejects.toMatchObject({ code: 'SESSION_NOT_FOUND' });
  });
});
