/**
 * The room demo: what an application builds on Switchyard. The SFU knows no
 * rooms; a room here is the set of tracks tagged `room:<name>`, read with
 * watchTracks (snapshot + trackEvents). Each participant is one session that
 * pushes `camera` and `mic` and pulls everyone else's.
 *
 * The camera is sent in three simulcast layers. Tiles pull the lowest; a
 * clicked tile is shown large and pulls the top layer. Switchyard tells each
 * publisher which layers anyone watches and the SDK stops sending the others,
 * so a room of thumbnails uploads thumbnails. Each tile shows, in a small
 * overlay, the layer it receives (from the session's state).
 *
 * The tile of whoever speaks is outlined: the SFU watches the audio each
 * session pulls and names the dominant speaker (the SDK's `dominantspeaker`).
 *
 * Beside the tiles, a chat on data channels (chat.ts).
 */
import { Switchyard, SwitchyardError, type LocalTrack, type TrackInfo, type TrackWatch } from '@switchyard/client';
import { Chat } from './chat.js';
import { showQuality } from './quality.js';

interface Participant {
  readonly sessionId: string;
  readonly tile: HTMLElement;
  readonly video: HTMLVideoElement;
  /** Pulled tracks by track name. */
  readonly pulled: Map<string, MediaStreamTrack>;
  readonly pulling: Set<string>;
  /** The camera's simulcast layers (RIDs, lowest first); empty when its publisher sends one stream. */
  rids: string[];
}

interface Call {
  readonly sfu: Switchyard;
  readonly media: MediaStream;
  readonly camera: LocalTrack;
  readonly mic: LocalTrack;
  readonly self: HTMLElement;
  readonly room: string;
  readonly chat: Chat;
  watch?: TrackWatch;
  micOn: boolean;
  cameraOn: boolean;
  /** Stops the connection-quality badge (quality.ts). */
  stopQuality?: () => void;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>('join');
const roomInput = $<HTMLInputElement>('room');
const nameInput = $<HTMLInputElement>('name');
const joinButton = $<HTMLButtonElement>('join-button');
const joinError = $<HTMLParagraphElement>('join-error');
const roomView = $<HTMLElement>('room-view');
const tiles = $<HTMLDivElement>('tiles');
const roomTitle = $<HTMLDivElement>('room-title');
const status = $<HTMLDivElement>('status');
const statusText = $<HTMLSpanElement>('status-text');
const qualityBadge = $<HTMLSpanElement>('quality');
const micButton = $<HTMLButtonElement>('toggle-mic');
const cameraButton = $<HTMLButtonElement>('toggle-camera');
const leaveButton = $<HTMLButtonElement>('leave');
const template = $<HTMLTemplateElement>('tile-template');

/** The camera's simulcast layers: a quarter, half and full size of 1280x720, with bitrate caps. */
const CAMERA_LAYERS: RTCRtpEncodingParameters[] = [
  { rid: 'l', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'm', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'h', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];
/** The participant shown large (clicked); null when all tiles are small. */
let focused: string | null = null;
let layerTimer: ReturnType<typeof setInterval> | undefined;

const params = new URLSearchParams(location.search);
/** A client token when the SFU has apps configured (development mode needs none). */
const token = params.get('token') ?? undefined;
roomInput.value = params.get('room') ?? '';
nameInput.value = params.get('name') ?? '';

const participants = new Map<string, Participant>();
let call: Call | undefined;

// Tags are printable ASCII without spaces: names and rooms travel URI-encoded.
const tag = (prefix: string, value: string) => `${prefix}:${encodeURIComponent(value)}`.slice(0, 128);
const nameOf = (tracks: TrackInfo[]) => {
  const found = tracks.flatMap((t) => t.tags).find((t) => t.startsWith('name:'));
  try {
    return found ? decodeURIComponent(found.slice(5)) : 'Guest';
  } catch {
    return 'Guest';
  }
};
const initials = (name: string) =>
  name
    .split(/\s+/)
    .map((part) => [...part][0] ?? '')
    .join('')
    .slice(0, 2)
    .toUpperCase();

const STATE_TEXT: Record<string, string> = {
  idle: 'Not connected',
  new: 'Connecting…',
  connecting: 'Connecting…',
  connected: 'Connected',
  disconnected: 'Reconnecting…',
  reconnecting: 'Reconnecting…',
  failed: 'Connection failed',
  closed: 'Left',
};

/** Whether the SDK is restarting ICE (icerestart) and the connection has not come back yet. */
let reconnecting = false;

function showState(state: string): void {
  if (state === 'connected' || state === 'closed' || state === 'idle') reconnecting = false;
  // During a restart the PeerConnection passes through connecting and failed: the user sees one "Reconnecting…".
  const shown = reconnecting ? 'reconnecting' : state;
  status.dataset.state = shown;
  statusText.textContent = STATE_TEXT[shown] ?? shown;
}

function newTile(name: string, self: boolean): { tile: HTMLElement; video: HTMLVideoElement } {
  const tile = (template.content.firstElementChild as HTMLElement).cloneNode(true) as HTMLElement;
  tile.classList.toggle('self', self);
  tile.dataset.name = name;
  (tile.querySelector('.name') as HTMLElement).textContent = self ? `${name} (you)` : name;
  (tile.querySelector('.initials') as HTMLElement).textContent = initials(name);
  const video = tile.querySelector('video') as HTMLVideoElement;
  video.muted = self; // never play one's own microphone back
  tiles.append(tile);
  return { tile, video };
}

function updateTitle(): void {
  if (!call) return;
  const count = participants.size + 1;
  roomTitle.innerHTML = '';
  roomTitle.append(call.room);
  const small = document.createElement('span');
  small.className = 'count';
  small.textContent = `${count} ${count === 1 ? 'person' : 'people'}`;
  roomTitle.append(small);
}

/** Brings the tiles in line with the room's tracks: new participants get a tile, gone ones lose it. */
function reconcile(tracks: TrackInfo[]): void {
  if (!call) return;
  const bySession = new Map<string, TrackInfo[]>();
  for (const track of tracks) {
    if (track.sessionId === call.sfu.sessionId) continue;
    bySession.set(track.sessionId, [...(bySession.get(track.sessionId) ?? []), track]);
  }
  for (const sessionId of [...participants.keys()]) {
    if (!bySession.has(sessionId)) removeParticipant(sessionId);
  }
  for (const [sessionId, list] of bySession) {
    const participant = participants.get(sessionId) ?? addParticipant(sessionId, nameOf(list));
    // Data channels (the chat's) are subscribed to by the chat; pullTracks refuses them.
    const media = list.filter((t) => t.kind !== 'DATA');
    const names = new Set(media.map((t) => t.name));
    for (const [name, track] of participant.pulled) {
      if (!names.has(name)) dropTrack(participant, name, track);
    }
    for (const track of media) {
      if (!participant.pulled.has(track.name) && !participant.pulling.has(track.name)) void pullInto(participant, track);
    }
    const video = list.find((t) => t.kind === 'VIDEO');
    const audio = list.find((t) => t.kind === 'AUDIO');
    // `muted` arrives at once (MUTED); INACTIVE only after seconds without media (a lost connection, a stalled encoder).
    participant.tile.classList.toggle('camera-off', !video || video.muted || video.status === 'INACTIVE');
    participant.tile.classList.toggle('muted', !audio || audio.muted || audio.status === 'INACTIVE');
    participant.tile.classList.toggle('waiting', list.some((t) => t.status === 'WAITING'));
  }
  updateTitle();
}

function addParticipant(sessionId: string, name: string): Participant {
  const { tile, video } = newTile(name, false);
  tile.dataset.sessionId = sessionId;
  const participant: Participant = { sessionId, tile, video, pulled: new Map(), pulling: new Set(), rids: [] };
  participants.set(sessionId, participant);
  tile.addEventListener('click', () => void focus(focused === sessionId ? null : sessionId));
  return participant;
}

function removeParticipant(sessionId: string): void {
  const participant = participants.get(sessionId);
  if (!participant) return;
  participants.delete(sessionId);
  participant.tile.remove();
  if (focused === sessionId) focused = null;
  const pulled = [...participant.pulled.values()];
  // Their sources are gone; stopping the transceivers frees their m-sections for later pulls.
  if (pulled.length && call) void call.sfu.close(...pulled).catch(() => undefined);
}

/**
 * Outlines the dominant speaker's tile, and only theirs. The SFU announces
 * who takes over, never that someone stopped: the last speaker keeps the
 * outline until another speaks (demo.css hides it while they are muted).
 * The event names the publishing session, which is how tiles are keyed; one's
 * own tile is never named, as the SFU only weighs the tracks this session pulls.
 */
function showSpeaker(sessionId: string): void {
  for (const participant of participants.values()) participant.tile.classList.toggle('speaking', participant.sessionId === sessionId);
}

function dropTrack(participant: Participant, name: string, track: MediaStreamTrack): void {
  participant.pulled.delete(name);
  attach(participant);
  void call?.sfu.close(track).catch(() => undefined);
}

async function pullInto(participant: Participant, track: TrackInfo): Promise<void> {
  if (!call) return;
  participant.pulling.add(track.name);
  try {
    // Small tiles need the lowest layer; the focused one the highest.
    if (track.kind === 'VIDEO') participant.rids = track.simulcastRids;
    const rid = layerFor(participant);
    const media = await call.sfu.pull(track.sessionId, track.name, track.kind === 'VIDEO' && rid ? { simulcast: { preferredRid: rid } } : {});
    participant.pulling.delete(track.name);
    if (participants.get(participant.sessionId) !== participant) {
      void call?.sfu.close(media).catch(() => undefined);
      return;
    }
    participant.pulled.set(track.name, media);
    attach(participant);
  } catch (error) {
    participant.pulling.delete(track.name);
    // A track that went away meanwhile is simply not there; anything else is worth a line in the console.
    if (!(error instanceof SwitchyardError && error.code === 'TRACK_NOT_FOUND')) console.warn('pull failed', track, error);
  }
}

/** The layer a participant's camera is pulled at: the top one when focused, else the lowest; none without simulcast. */
function layerFor(participant: Participant): string | undefined {
  return focused === participant.sessionId ? participant.rids.at(-1) : participant.rids[0];
}

/** Shows one participant large on its top layer (or none), the others small on their lowest. */
async function focus(sessionId: string | null): Promise<void> {
  focused = sessionId;
  for (const participant of participants.values()) {
    participant.tile.classList.toggle('focused', participant.sessionId === sessionId);
    const camera = participant.pulled.get('camera');
    const rid = layerFor(participant);
    if (call && camera && rid) await call.sfu.setSimulcast(camera, { preferredRid: rid }).catch((error: unknown) => console.warn('layer change failed', error));
  }
}

/** The debug overlay of each tile: the layer it receives (remote) or the layers anyone watches (own camera). */
async function showLayers(): Promise<void> {
  if (!call) return;
  const current = call;
  const layers = await current.sfu.layers().catch(() => []);
  for (const entry of layers) {
    if (entry.location === 'LOCAL') {
      if (entry.mid === current.camera.mid) setOverlay(current.self, `sending ${entry.layersInDemand?.join(' ') ?? 'one stream'}`);
      continue;
    }
    const track = current.sfu.pc.getTransceivers().find((t) => t.mid === entry.mid)?.receiver.track;
    const participant = [...participants.values()].find((p) => track && p.pulled.get('camera') === track);
    if (!participant) continue;
    const video = participant.video;
    const size = video.videoWidth ? ` ${video.videoWidth}x${video.videoHeight}` : '';
    const got = entry.receivingLayers;
    setOverlay(participant.tile, got ? `${got.rid ?? got.spatialLayer} T${got.temporalLayer ?? '-'}${size} (asked ${entry.preferredLayer})` : `one stream${size}`);
  }
}

function setOverlay(tile: HTMLElement, text: string): void {
  const overlay = tile.querySelector('.layers') as HTMLElement;
  overlay.textContent = text;
  overlay.dataset.rid = text.split(' ')[0] ?? '';
}

/**
 * Keeps the tile's stream holding exactly the participant's pulled tracks.
 * Tracks are added to and removed from the one stream the <video> plays:
 * a new stream would restart playback (a flicker when the microphone
 * arrives after the camera).
 */
function attach(participant: Participant): void {
  const wanted = new Set(participant.pulled.values());
  let stream = participant.video.srcObject as MediaStream | null;
  if (!stream) {
    stream = new MediaStream();
    participant.video.srcObject = stream;
  }
  for (const track of stream.getTracks()) if (!wanted.has(track)) stream.removeTrack(track);
  for (const track of wanted) if (!stream.getTracks().includes(track)) stream.addTrack(track);
  void participant.video.play().catch(() => undefined);
}

async function join(room: string, name: string): Promise<void> {
  showState('connecting');
  const media = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720, frameRate: 24 }, audio: true });
  let sfu: Switchyard | undefined;
  try {
    sfu = await Switchyard.connect({ url: location.origin, correlationId: name, ...(token ? { token } : {}) });
    sfu.on('connectionstatechange', showState);
    sfu.on('icerestart', () => {
      reconnecting = true;
      showState('reconnecting');
    });
    sfu.on('dominantspeaker', ({ sessionId }) => showSpeaker(sessionId));
    sfu.on('closed', ({ byServer }) => {
      if (byServer) void leave('The server closed this session.');
    });
    const tags = [tag('room', room), tag('name', name)];
    const [videoTrack, audioTrack] = [media.getVideoTracks()[0], media.getAudioTracks()[0]];
    if (!videoTrack || !audioTrack) throw new Error('no camera or microphone');
    const camera = await sfu.push(videoTrack, { name: 'camera', tags, sendEncodings: CAMERA_LAYERS });
    const mic = await sfu.push(audioTrack, { name: 'mic', tags });
    const { tile: self, video } = newTile(name, true);
    self.dataset.sessionId = sfu.sessionId;
    video.srcObject = new MediaStream([videoTrack]);
    const chat = new Chat(sfu, name, (track) => nameOf([track]));
    call = { sfu, media, camera, mic, self, room, chat, micOn: true, cameraOn: true };
    await chat.start(tags);
    showState(sfu.connectionState);
    form.hidden = true;
    roomView.hidden = false;
    roomTitle.hidden = false;
    history.replaceState(null, '', `?${new URLSearchParams({ room, name, ...(token ? { token } : {}) })}`);
    call.watch = await sfu.watchTracks({ tags: [tag('room', room)] }, (tracks) => {
      reconcile(tracks);
      call?.chat.sync(tracks);
    });
    layerTimer = setInterval(() => void showLayers(), 1000);
    call.stopQuality = showQuality(sfu, qualityBadge);
  } catch (error) {
    for (const track of media.getTracks()) track.stop();
    call?.chat.stop();
    await sfu?.leave().catch(() => undefined);
    call = undefined;
    throw error;
  }
}

async function leave(message?: string): Promise<void> {
  const current = call;
  if (!current) return;
  call = undefined;
  clearInterval(layerTimer);
  focused = null;
  current.watch?.stop();
  current.stopQuality?.();
  current.chat.stop();
  for (const sessionId of [...participants.keys()]) removeParticipant(sessionId);
  tiles.innerHTML = '';
  for (const track of current.media.getTracks()) track.stop();
  await current.sfu.leave().catch(() => undefined);
  showState('idle');
  roomView.hidden = true;
  roomTitle.hidden = true;
  form.hidden = false;
  joinButton.disabled = false;
  joinError.hidden = !message;
  joinError.textContent = message ?? '';
  micButton.textContent = 'Mute';
  cameraButton.textContent = 'Stop video';
  for (const button of [micButton, cameraButton]) button.setAttribute('aria-pressed', 'false');
}

/**
 * Muting stops sending and tells the room at once (setMuted): the others see
 * the track `muted` and show the placeholder; the track stays published, so
 * unmuting needs no new pull.
 */
async function toggle(kind: 'mic' | 'camera'): Promise<void> {
  if (!call) return;
  const current = call;
  const on = kind === 'mic' ? (current.micOn = !current.micOn) : (current.cameraOn = !current.cameraOn);
  // The button answers the click at once; the SDK keeps quick clicks in order.
  const button = kind === 'mic' ? micButton : cameraButton;
  button.setAttribute('aria-pressed', String(!on));
  button.textContent = kind === 'mic' ? (on ? 'Mute' : 'Unmute') : on ? 'Stop video' : 'Start video';
  button.title = `${on ? 'Turn off' : 'Turn on'} ${kind === 'mic' ? 'microphone' : 'camera'}`;
  current.self.classList.toggle(kind === 'mic' ? 'muted' : 'camera-off', !on);
  await current.sfu.setMuted(kind === 'mic' ? current.mic : current.camera, !on);
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const room = roomInput.value.trim();
  const name = nameInput.value.trim();
  if (!room || !name) return;
  joinButton.disabled = true;
  joinError.hidden = true;
  join(room, name).catch((error: unknown) => {
    showState('idle');
    joinButton.disabled = false;
    joinError.hidden = false;
    joinError.textContent = error instanceof SwitchyardError ? `${error.code}: ${error.message}` : `Could not join: ${String(error)}`;
  });
});
// setMuted changes the sender first: if telling the room fails, the media has still stopped (or resumed).
micButton.addEventListener('click', () => void toggle('mic').catch((error: unknown) => console.warn('mute failed', error)));
cameraButton.addEventListener('click', () => void toggle('camera').catch((error: unknown) => console.warn('mute failed', error)));
leaveButton.addEventListener('click', () => void leave());
// Closing the tab leaves the room at once for the others (the request outlives the page: keepalive).
addEventListener('pagehide', () => void call?.sfu.leave().catch(() => undefined));
