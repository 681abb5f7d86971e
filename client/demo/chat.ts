/**
 * The room demo's chat, built only on data channels and track events: each
 * participant publishes a data channel named `chat` with the room's tags,
 * and subscribes to every other participant's `chat` channel when the room's
 * tracks (watchTracks, kind DATA) show one; it goes when that track is
 * unpublished or its channel closes. Channels go one way through the SFU,
 * and the SFU sends nobody their own messages back: the chat shows its own
 * messages itself. A message is JSON text `{ from, text, at }`.
 */
import { SwitchyardError, type Switchyard, type TrackInfo } from '@switchyard/client';

export const CHAT_CHANNEL = 'chat';
/** Longest message text; the SFU's message size limit is far above it. */
const MAX_TEXT = 500;

export interface ChatMessage {
  from: string;
  text: string;
  /** When it was sent, ISO 8601 (the sender's clock). */
  at: string;
}

interface Member {
  readonly sessionId: string;
  readonly name: string;
  readonly item: HTMLLIElement;
  /** Its chat channel's track, to subscribe again after an OVERFLOW. */
  readonly track: TrackInfo;
  channel?: RTCDataChannel;
  /** The SFU ended the subscription because this page could not keep up: subscribe again. */
  overflowed?: boolean;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>('chat-form');
const input = $<HTMLInputElement>('chat-input');
const sendButton = $<HTMLButtonElement>('chat-send');
const log = $<HTMLOListElement>('chat-log');
const memberList = $<HTMLUListElement>('chat-members');

/** A message from a channel, if it is one: anything else a peer sends is ignored. */
export function parseMessage(data: unknown): ChatMessage | undefined {
  if (typeof data !== 'string') return undefined;
  try {
    const message = JSON.parse(data) as Partial<ChatMessage> | null;
    if (typeof message?.text !== 'string' || !message.text.trim()) return undefined;
    return {
      from: typeof message.from === 'string' ? message.from : '',
      text: message.text.slice(0, MAX_TEXT),
      at: typeof message.at === 'string' ? message.at : new Date().toISOString(),
    };
  } catch {
    return undefined;
  }
}

/** One participant's chat in one room, from joining to leaving. */
export class Chat {
  private own: RTCDataChannel | undefined;
  private readonly members = new Map<string, Member>();
  private readonly listeners = new AbortController();
  /** Members present at the first sync were there before us: no "joined" line for them. */
  private synced = false;
  private stopped = false;

  constructor(
    private readonly sfu: Switchyard,
    private readonly me: string,
    /** The display name a participant's tracks carry. */
    private readonly nameOf: (track: TrackInfo) => string,
  ) {
    form.addEventListener(
      'submit',
      (event) => {
        event.preventDefault();
        if (this.send(input.value)) input.value = '';
      },
      { signal: this.listeners.signal },
    );
    // OVERFLOW: this page fell behind and lost messages; its channel closes next, and the chat subscribes again.
    const unsubscribe = sfu.on('datachannelended', ({ channel, reason }) => {
      if (reason !== 'OVERFLOW') return;
      for (const member of this.members.values()) if (member.channel === channel) member.overflowed = true;
    });
    this.listeners.signal.addEventListener('abort', unsubscribe);
  }

  /** Publishes this participant's chat channel; the chat stays read-only (and says why) if that fails. */
  async start(tags: string[]): Promise<void> {
    try {
      const channel = await this.sfu.publishData(CHAT_CHANNEL, { tags });
      if (this.stopped) {
        void this.sfu.closeData(channel).catch(() => undefined);
        return;
      }
      this.own = channel;
      const ready = () => {
        sendButton.disabled = this.stopped || channel.readyState !== 'open';
      };
      channel.addEventListener('open', ready);
      channel.addEventListener('close', ready);
      ready();
    } catch (error) {
      this.system(`Chat unavailable: ${error instanceof SwitchyardError ? error.code : String(error)}`);
    }
  }

  /** Brings the subscriptions in line with the room's tracks: new `chat` channels are subscribed to, gone ones dropped. */
  sync(tracks: TrackInfo[]): void {
    if (this.stopped) return;
    const present = new Map<string, TrackInfo>();
    for (const track of tracks) {
      if (track.kind === 'DATA' && track.name === CHAT_CHANNEL && track.sessionId !== this.sfu.sessionId) present.set(track.sessionId, track);
    }
    for (const member of [...this.members.values()]) {
      if (!present.has(member.sessionId)) this.remove(member);
    }
    for (const track of present.values()) {
      const member = this.members.get(track.sessionId);
      if (member) member.item.dataset.status = track.status;
      else void this.add(track, this.synced);
    }
    this.synced = true;
  }

  /** Sends a message to the room and shows it here; false when there is nothing to send or no open channel. */
  send(text: string): boolean {
    const trimmed = text.trim().slice(0, MAX_TEXT);
    if (!trimmed || this.own?.readyState !== 'open') return false;
    const message: ChatMessage = { from: this.me, text: trimmed, at: new Date().toISOString() };
    this.own.send(JSON.stringify(message));
    this.show(message, undefined);
    return true;
  }

  /** Leaving: the session's end closes the channels; this empties the panel. */
  stop(): void {
    this.stopped = true;
    this.listeners.abort();
    this.members.clear();
    memberList.replaceChildren();
    log.replaceChildren();
    input.value = '';
    sendButton.disabled = true;
  }

  // ---------------------------------------------------------------------------

  private async add(track: TrackInfo, announce: boolean): Promise<void> {
    const item = document.createElement('li');
    const member: Member = { sessionId: track.sessionId, name: this.nameOf(track), item, track };
    item.textContent = member.name;
    Object.assign(item.dataset, { sessionId: member.sessionId, name: member.name, state: 'connecting', status: track.status });
    memberList.append(item);
    this.members.set(member.sessionId, member);
    try {
      const channel = await this.sfu.subscribeData(member.sessionId, CHAT_CHANNEL);
      if (this.members.get(member.sessionId) !== member) {
        // Gone while subscribing.
        void this.sfu.closeData(channel).catch(() => undefined);
        return;
      }
      member.channel = channel;
      const opened = () => {
        item.dataset.state = 'open';
        if (announce) this.system(`${member.name} joined the chat`);
      };
      if (channel.readyState === 'open') opened();
      else channel.addEventListener('open', opened, { once: true });
      channel.addEventListener('message', (event: MessageEvent) => {
        const message = parseMessage(event.data);
        if (message) this.show(message, member);
      });
      // Its source went away (DATA_CHANNEL_ENDED resets the stream), perhaps before the track event says so, or this page fell behind.
      channel.addEventListener('close', () => (member.overflowed ? this.resubscribe(member) : this.remove(member)));
    } catch (error) {
      if (this.members.get(member.sessionId) !== member) return;
      // TRACK_NOT_FOUND: unpublished meanwhile, and the next track event removes it.
      item.dataset.state = 'failed';
      if (!(error instanceof SwitchyardError && error.code === 'TRACK_NOT_FOUND')) console.warn('chat subscription failed', member.name, error);
    }
  }

  /** The SFU ended a subscription this page could not keep up with: say that messages were missed, and subscribe again. */
  private resubscribe(member: Member): void {
    if (this.stopped || this.members.get(member.sessionId) !== member) return;
    this.members.delete(member.sessionId);
    member.item.remove();
    this.system(`Some messages from ${member.name} were missed (this page fell behind)`);
    void this.add(member.track, false);
  }

  private remove(member: Member): void {
    if (this.stopped || this.members.get(member.sessionId) !== member) return;
    this.members.delete(member.sessionId);
    member.item.remove();
    this.system(`${member.name} left the chat`);
    if (member.channel && member.channel.readyState !== 'closed') void this.sfu.closeData(member.channel).catch(() => undefined);
  }

  /** Adds a message to the log: one of a member, or this participant's own (no member). */
  private show(message: ChatMessage, member: Member | undefined): void {
    const item = document.createElement('li');
    item.className = member ? 'message' : 'message own';
    const name = member?.name ?? this.me;
    Object.assign(item.dataset, { testid: 'chat-message', from: name, ...(member ? { sessionId: member.sessionId } : {}) });
    const from = document.createElement('span');
    from.className = 'from';
    from.textContent = member ? name : `${name} (you)`;
    const time = document.createElement('time');
    const at = new Date(message.at);
    if (!Number.isNaN(at.getTime())) {
      time.dateTime = at.toISOString();
      time.textContent = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    }
    const text = document.createElement('p');
    text.className = 'text';
    text.textContent = message.text;
    item.append(from, time, text);
    this.append(item);
  }

  private system(text: string): void {
    const item = document.createElement('li');
    item.className = 'system';
    item.dataset.testid = 'chat-system';
    item.textContent = text;
    this.append(item);
  }

  private append(item: HTMLLIElement): void {
    // Follow new messages unless the reader scrolled up.
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.append(item);
    if (atBottom) log.scrollTop = log.scrollHeight;
  }
}
