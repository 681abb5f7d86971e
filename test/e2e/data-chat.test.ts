import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { enterDemo, useDemoServer, remoteNames } from '../helpers/demoPage.js';

/**
 * The room demo's chat in real Chromium: three participants, each a browser
 * context of its own, chat over data channels through the SFU (each
 * publishes `chat`, subscribes to the others' when the room's track events
 * show them) and see one of them go.
 */

const demo = useDemoServer();
const pages = new Map<string, Page>();
const ROOM = 'chat-room';
const NAMES = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing'];
const MESSAGES_EACH = 3;


interface Shown {
  from: string;
  text: string;
  own: boolean;
}

/** The messages in a page's chat log, top to bottom. */
const messagesOf = (page: Page): Promise<Shown[]> =>
  page.$$eval('#chat-log [data-testid="chat-message"]', (items) =>
    items.map((item) => ({
      from: (item as HTMLElement).dataset.from ?? '',
      text: item.querySelector('.text')?.textContent ?? '',
      own: item.classList.contains('own'),
    })),
  );

/** The others in a page's chat, as "name:state" (state open once their channel is). */
const membersOf = (page: Page): Promise<string[]> =>
  page.$$eval('#chat-members li', (items) => items.map((item) => `${(item as HTMLElement).dataset.name}:${(item as HTMLElement).dataset.state}`).sort());

const systemLines = (page: Page): Promise<string[]> => page.$$eval('#chat-log [data-testid="chat-system"]', (items) => items.map((item) => item.textContent ?? ''));

const sessionIdOf = async (page: Page): Promise<string> => (await page.getAttribute('.tile.self', 'data-session-id'))!;

/** The data channels a session holds at the SFU, as "LOCAL chat" or "REMOTE <publisher session>/chat". */
const channelsAt = (sessionId: string): string[] =>
  (demo.server.sessions.get(sessionId)?.dataChannels ?? [])
    .map((c) => (c.location === 'LOCAL' ? `LOCAL ${c.source.name}` : `REMOTE ${c.source.sessionId}/${c.source.name}`))
    .sort();

/** Runs in each page before the demo: keeps every RTCDataChannel the page opens, to read their state. */
function keepDataChannels(): void {
  const channels: RTCDataChannel[] = [];
  (window as unknown as { dataChannels: RTCDataChannel[] }).dataChannels = channels;
  const create = RTCPeerConnection.prototype.createDataChannel;
  RTCPeerConnection.prototype.createDataChannel = function (this: RTCPeerConnection, label: string, init?: RTCDataChannelInit) {
    const channel = create.call(this, label, init);
    channels.push(channel);
    return channel;
  };
}

/** The page's `chat` channels by SCTP stream id: readyState of each. */
const chatChannelsOf = (page: Page): Promise<Record<number, string>> =>
  page.evaluate(() =>
    Object.fromEntries(
      (window as unknown as { dataChannels: RTCDataChannel[] }).dataChannels.filter((c) => c.label === 'chat').map((c) => [c.id, c.readyState]),
    ),
  );

/** The SCTP stream id of `sessionId`'s subscription to `publisher`'s chat. */
const subscriptionId = (sessionId: string, publisher: string): number =>
  demo.server.sessions.get(sessionId)!.dataChannels.find((c) => c.location === 'REMOTE' && c.source.sessionId === publisher)!.id;

/** Types a message and sends it, with the button or with Enter. */
async function say(page: Page, text: string, how: 'click' | 'enter'): Promise<void> {
  await page.fill('#chat-input', text);
  if (how === 'click') await page.click('#chat-send');
  else await page.press('#chat-input', 'Enter');
}

describe('the room demo\'s chat on data channels, in Chromium', () => {
  it('three people chat: every page shows all messages, others\' and its own, each sender\'s in order', { timeout: 90_000 }, async () => {
    for (const name of NAMES) pages.set(name, await enterDemo(demo.browser, demo.server.url, ROOM, name, keepDataChannels));

    // Everyone has subscribed to the other two's channels, and may send.
    for (const [name, page] of pages) {
      const others = NAMES.filter((n) => n !== name).map((n) => `${n}:open`).sort();
      await expect.poll(() => membersOf(page), { timeout: 15_000 }).toEqual(others);
      await expect.poll(() => page.isEnabled('#chat-send'), { timeout: 5000 }).toBe(true);
    }
    const ids = await Promise.all(NAMES.map((name) => sessionIdOf(pages.get(name)!)));
    for (const [i, id] of ids.entries()) {
      // One channel published, two subscribed: the others' `chat`.
      expect(channelsAt(id)).toEqual(['LOCAL chat', ...ids.filter((other) => other !== id).map((other) => `REMOTE ${other}/chat`)].sort());
      expect(demo.server.sessions.get(id)!.dataChannels.every((c) => c.source.kind === 'data'), NAMES[i]).toBe(true);
    }

    // Round by round, each sends one: own messages show at once (the SFU does not echo them).
    for (let round = 1; round <= MESSAGES_EACH; round += 1) {
      for (const name of NAMES) {
        const page = pages.get(name)!;
        await say(page, `${name.split(' ')[0]} says ${round}`, round % 2 ? 'click' : 'enter');
        expect((await messagesOf(page)).filter((m) => m.own).map((m) => m.text).at(-1)).toBe(`${name.split(' ')[0]} says ${round}`);
        expect(await page.inputValue('#chat-input')).toBe('');
      }
    }

    const total = NAMES.length * MESSAGES_EACH;
    for (const page of pages.values()) {
      await expect.poll(async () => (await messagesOf(page)).length, { timeout: 10_000 }).toBe(total);
    }
    // Nothing more arrives (no echo, no duplicate).
    await pages.get(NAMES[0]!)!.waitForTimeout(500);
    for (const [name, page] of pages) {
      const shown = await messagesOf(page);
      expect(shown).toHaveLength(total);
      for (const sender of NAMES) {
        const first = sender.split(' ')[0];
        const own = sender === name;
        // Each sender's messages, in the order sent, marked as this page's own or not.
        expect(shown.filter((m) => m.from === sender)).toEqual(
          Array.from({ length: MESSAGES_EACH }, (_, i) => ({ from: sender, text: `${first} says ${i + 1}`, own })),
        );
      }
    }
    // For a look at the panel (dist/ is not committed).
    await pages.get(NAMES[0]!)!.screenshot({ path: join(import.meta.dirname, '../../dist/data-chat.png') });
  });

  it('one closes her page: the others drop her from the chat, their channel from her ends, and the two go on chatting', { timeout: 60_000 }, async () => {
    const grace = pages.get('Grace Hopper')!;
    const graceId = await sessionIdOf(grace);
    const ada = pages.get('Ada Lovelace')!;
    const alan = pages.get('Alan Turing')!;
    const [adaId, alanId] = await Promise.all([sessionIdOf(ada), sessionIdOf(alan)]);
    // The channels that carry her messages, by id, open on both pages beside their own and each other's.
    const fromGrace = new Map([
      [ada, subscriptionId(adaId, graceId)],
      [alan, subscriptionId(alanId, graceId)],
    ]);
    for (const [page, id] of fromGrace) {
      const channels = await chatChannelsOf(page);
      expect(Object.values(channels)).toEqual(['open', 'open', 'open']);
      expect(channels[id]).toBe('open');
    }
    pages.delete('Grace Hopper');
    await grace.context().close();
    const closed = Date.now();

    for (const [page, other] of [
      [ada, 'Alan Turing'],
      [alan, 'Ada Lovelace'],
    ] as const) {
      await expect.poll(() => membersOf(page), { timeout: 5000, interval: 100 }).toEqual([`${other}:open`]);
      await expect.poll(() => systemLines(page), { timeout: 5000 }).toContain('Grace Hopper left the chat');
      expect(await remoteNames(page)).toEqual([other]);
      // Her channel closed (the SFU's stream reset and DATA_CHANNEL_ENDED, or the chat's closeData after UNPUBLISHED: whichever came first); the page's own and the other's stay open.
      await expect.poll(async () => (await chatChannelsOf(page))[fromGrace.get(page)!], { timeout: 5000 }).toBe('closed');
      expect(Object.values(await chatChannelsOf(page)).sort()).toEqual(['closed', 'open', 'open']);
    }
    console.log(`data chat: Grace left both chats ${Date.now() - closed} ms after her page closed`);
    // At the SFU her session is gone and so are the others' subscriptions to her channel.
    await expect.poll(() => demo.server.sessions.get(graceId), { timeout: 5000 }).toBeUndefined();
    await expect.poll(() => channelsAt(adaId), { timeout: 5000 }).toEqual(['LOCAL chat', `REMOTE ${alanId}/chat`]);
    await expect.poll(() => channelsAt(alanId), { timeout: 5000 }).toEqual(['LOCAL chat', `REMOTE ${adaId}/chat`]);

    await say(ada, 'Still here, Alan?', 'enter');
    await expect.poll(async () => (await messagesOf(alan)).at(-1), { timeout: 5000 }).toEqual({ from: 'Ada Lovelace', text: 'Still here, Alan?', own: false });
    // Her messages stay in the log.
    expect((await messagesOf(alan)).filter((m) => m.from === 'Grace Hopper')).toHaveLength(MESSAGES_EACH);
  });
});
