import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { launchChromium } from '../helpers/browser.js';
import { rawSession } from '../helpers/rawPage.js';
import { startTestServer } from '../helpers/server.js';

/**
 * Issue 14 in Chromium with plain RTCPeerConnection code and fetch() to
 * /graphql (no SDK): the SFU's SDP now announces its max-message-size, and
 * its data channels are negotiated channels with ids it assigns; Chromium is
 * stricter than libwebrtc in Node about both.
 */
let server: Switchyard;
let browser: Browser;
const pages: Page[] = [];

beforeAll(async () => {
  server = await startTestServer({ WORKERS: '2' });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  for (const page of pages) await page.context().close().catch(() => undefined);
  await browser?.close();
  await server?.stop();
});

const RESULT = 'dataChannels { id name options { ordered maxRetransmits maxPacketLifeTime } error { code message } }';

async function open(name: string) {
  const client = await rawSession(browser, server.url, name);
  pages.push(client.page);
  // Every page keeps its channels and what they receive on window.dc.
  await client.page.evaluate(() => {
    (window as any).dc = { channels: {}, received: {}, closed: [] };
  });
  return client;
}

/** In the page: opens the negotiated channel a publish/subscribe result describes, and records what arrives. */
async function openChannel(page: Page, key: string, result: { id: number; name: string; options: { ordered: boolean; maxRetransmits: number | null; maxPacketLifeTime: number | null } }) {
  await page.evaluate(
    ({ key, result }) =>
      new Promise<void>((resolve, reject) => {
        const dc = (window as any).dc;
        const { ordered, maxRetransmits, maxPacketLifeTime } = result.options;
        const channel = window.sy.pc.createDataChannel(result.name, {
          negotiated: true,
          id: result.id,
          ordered,
          ...(maxRetransmits !== null ? { maxRetransmits } : {}),
          ...(maxPacketLifeTime !== null ? { maxPacketLifeTime } : {}),
        });
        channel.binaryType = 'arraybuffer';
        dc.channels[key] = channel;
        dc.received[key] = [];
        channel.onmessage = (event: MessageEvent) =>
          dc.received[key].push(typeof event.data === 'string' ? event.data : `bin:${[...new Uint8Array(event.data)].join(',')}`);
        channel.onclose = () => dc.closed.push(key);
        channel.onopen = () => resolve();
        setTimeout(() => reject(new Error(`channel ${key} did not open (${channel.readyState})`)), 10_000);
      }),
    { key, result },
  );
}

describe('data channels in Chromium, plain RTCPeerConnection', () => {
  it('publishes, fans out, honours the announced max-message-size, and closes the subscribers\' channels', { timeout: 90_000 }, async () => {
    const publisher = await open('publisher');
    const subscribers = [await open('subscriber-1'), await open('subscriber-2')];

    const published = await publisher.page.evaluate(
      (query) =>
        window.sy.gqlOk(query, {
          input: { sessionId: window.sy.sessionId, dataChannels: [{ name: 'chat' }, { name: 'cursor', maxRetransmits: 2 }] },
        }),
      `mutation($input: PublishDataChannelsInput!) { publishDataChannels(input: $input) { ${RESULT} } }`,
    );
    const [chat, cursor] = published.publishDataChannels.dataChannels;
    expect(chat.error).toBeNull();
    expect(cursor.options).toEqual({ ordered: false, maxRetransmits: 2, maxPacketLifeTime: null });
    await openChannel(publisher.page, 'chat', chat);
    await openChannel(publisher.page, 'cursor', cursor);

    for (const subscriber of subscribers) {
      const subscribed = await subscriber.page.evaluate(
        ({ query, sessionId }) =>
          window.sy.gqlOk(query, {
            input: { sessionId: window.sy.sessionId, dataChannels: [{ sessionId, name: 'chat' }, { sessionId, name: 'cursor' }] },
          }),
        { query: `mutation($input: SubscribeDataChannelsInput!) { subscribeDataChannels(input: $input) { ${RESULT} } }`, sessionId: publisher.sessionId },
      );
      const [fromChat, fromCursor] = subscribed.subscribeDataChannels.dataChannels;
      expect(fromChat.error).toBeNull();
      expect(fromCursor.options).toEqual(cursor.options);
      await openChannel(subscriber.page, 'chat', fromChat);
      await openChannel(subscriber.page, 'cursor', fromCursor);
    }

    // Chromium took the SFU's a=max-message-size.
    const limit = server.config.dataMaxMessageBytes;
    expect(await publisher.page.evaluate(() => window.sy.pc.sctp?.maxMessageSize)).toBe(limit);

    const sent = await publisher.page.evaluate((limit) => {
      const { chat, cursor } = (window as any).dc.channels as { chat: RTCDataChannel; cursor: RTCDataChannel };
      for (let i = 0; i < 100; i += 1) {
        if (i % 4 === 0) chat.send(new Uint8Array([i, 1, 2]));
        else chat.send(`chat ${i}`);
      }
      cursor.send('x=1,y=2');
      chat.send(new Uint8Array(limit));
      let refused = '';
      try {
        chat.send(new Uint8Array(limit + 1));
      } catch (error) {
        refused = (error as Error).name;
      }
      chat.send('last');
      return { refused, state: chat.readyState };
    }, limit);
    // Chromium refuses to send beyond the announced size, and the channel stays open.
    expect(sent).toEqual({ refused: 'TypeError', state: 'open' });

    const expected = [...Array.from({ length: 100 }, (_, i) => (i % 4 === 0 ? `bin:${i},1,2` : `chat ${i}`))];
    for (const subscriber of subscribers) {
      await expect
        .poll(() => subscriber.page.evaluate(() => (window as any).dc.received.chat.length), { timeout: 15_000 })
        .toBe(102);
      const received = await subscriber.page.evaluate(() => {
        const { chat, cursor } = (window as any).dc.received;
        return { first: chat.slice(0, 100), largest: chat[100].split(',').length, last: chat[101], cursor };
      });
      expect(received).toEqual({ first: expected, largest: limit, last: 'last', cursor: ['x=1,y=2'] });
    }

    // The publisher closes chat: each subscriber's Chromium channel fires close (the SFU reset the stream); cursor stays.
    await publisher.page.evaluate(
      ({ query, id }) => window.sy.gqlOk(query, { input: { sessionId: window.sy.sessionId, ids: [id] } }),
      { query: `mutation($input: CloseDataChannelsInput!) { closeDataChannels(input: $input) { ${RESULT} } }`, id: chat.id },
    );
    for (const subscriber of subscribers) {
      await expect.poll(() => subscriber.page.evaluate(() => (window as any).dc.closed), { timeout: 10_000 }).toEqual(['chat']);
    }
    await expect.poll(() => publisher.page.evaluate(() => (window as any).dc.closed), { timeout: 10_000 }).toEqual(['chat']);
    await publisher.page.evaluate(() => (window as any).dc.channels.cursor.send('still open'));
    await expect.poll(() => subscribers[1]!.page.evaluate(() => (window as any).dc.received.cursor), { timeout: 10_000 }).toEqual(['x=1,y=2', 'still open']);
  });
});
