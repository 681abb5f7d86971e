import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { expect } from 'vitest';
import { collect, type Collector } from './subscriptions.js';
import type { Client } from 'graphql-ws';

/** The plain-WebRTC client the pages run (window.sy). */
const RAW_CLIENT = join(import.meta.dirname, 'raw-client.js');

/** What window.sy offers to page.evaluate (test/helpers/raw-client.js). */
export interface Sy {
  pc: RTCPeerConnection;
  sessionId: string;
  channel?: RTCDataChannel;
  local: Map<string, { track: MediaStreamTrack; transceiver: RTCRtpTransceiver }>;
  gql(query: string, variables?: Record<string, unknown>): Promise<{ data?: any; errors?: { message: string; extensions?: { code?: string } }[] }>;
  gqlOk(query: string, variables?: Record<string, unknown>): Promise<any>;
  camera(): Promise<MediaStreamTrack>;
  microphone(): Promise<MediaStreamTrack>;
  transceiver(mid: string): RTCRtpTransceiver;
  createSession(options?: { withOffer?: boolean }): Promise<{ sessionId: string; offerSdp?: string; answerSdp?: string }>;
  clientOffer(field: 'pushTracks' | 'closeTracks' | 'renegotiate', input?: object | (() => object), offerOptions?: RTCOfferOptions): Promise<OfferResult>;
  push(tracks: { trackName: string; track: MediaStreamTrack; codec?: string }[]): Promise<OfferResult & { mids: string[] }>;
  answerSfuOffer(sdp: string, options?: { recvonly?: string[] }): Promise<string>;
  pull(tracks: { sessionId: string; trackName: string; mid?: string; simulcast?: { preferredRid?: string } }[], options?: { answer?: boolean; recvonly?: string[] }): Promise<{ offerSdp: string | null; answerSdp: string | null; tracks: TrackResult[] }>;
  watch(mid: string): void;
  playback(mid: string): Promise<{ width: number; time: number; frames: number }>;
  selectedPair(): Promise<{ id: string; state: string; responsesReceived: number; localUfrag: string | null } | null>;
}

export interface TrackResult {
  mid: string | null;
  trackName: string | null;
  error: { code: string; message: string } | null;
}

export interface OfferResult {
  offerSdp: string;
  answerSdp?: string;
  tracks?: TrackResult[];
  errors?: { message: string; extensions?: { code?: string } }[];
}

declare global {
  interface Window {
    sy: Sy;
  }
}

/**
 * A browser context of its own (its own fake camera and PeerConnection) on a
 * page of the Switchyard origin: /healthz is enough, fetch to /graphql is
 * then same-origin and getUserMedia works on http://127.0.0.1.
 */
export async function openRawPage(browser: Browser, url: string, name: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error(`[${name}] page error:`, error));
  await page.goto(`${url}/healthz`);
  await page.addScriptTag({ path: RAW_CLIENT });
  return page;
}

/** A page with a session (data-channel offer unless told otherwise). */
export async function rawSession(browser: Browser, url: string, name: string, withOffer = true): Promise<{ page: Page; sessionId: string }> {
  const page = await openRawPage(browser, url, name);
  const { sessionId } = await page.evaluate((withOffer) => window.sy.createSession({ withOffer }), withOffer);
  return { page, sessionId };
}

/** A session that publishes the fake camera as `trackName`. */
export async function rawPublisher(browser: Browser, url: string, name: string, trackName = 'cam') {
  const { page, sessionId } = await rawSession(browser, url, name);
  const result = await page.evaluate(
    async (trackName) => window.sy.push([{ trackName, track: await window.sy.camera() }]),
    trackName,
  );
  expect(result.errors).toBeUndefined();
  expect(result.tracks?.[0]?.error).toBeNull();
  return { page, sessionId, mid: result.mids[0]! };
}

/**
 * Publishes a 1280x720 camera as `cam` in three layers (`rids`, lowest first:
 * 1/4, 1/2 and full size, at most 150 kbit/s, 500 kbit/s and 1.5 Mbit/s) with
 * plain WebRTC code, as a Chrome app would, on the page's session (created
 * here). `fps` asks the camera for exactly that frame rate. The sender is left
 * in window.camSender; returns the camera's settings.
 */
export async function publishSimulcast(page: Page, rids: readonly string[], fps?: number): Promise<MediaTrackSettings> {
  const result = await page.evaluate(async ({ fps, rids }) => {
    await window.sy.createSession();
    const media = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720, ...(fps ? { frameRate: { exact: fps } } : {}) } });
    const track = media.getVideoTracks()[0]!;
    const scale = [4, 2, 1];
    const maxBitrate = [150_000, 500_000, 1_500_000];
    const transceiver = window.sy.pc.addTransceiver(track, {
      direction: 'sendonly',
      sendEncodings: rids.map((rid, i) => ({ rid, scaleResolutionDownBy: scale[i], maxBitrate: maxBitrate[i] })),
    });
    const pushed = await window.sy.clientOffer('pushTracks', () => ({ tracks: [{ mid: transceiver.mid, trackName: 'cam' }] }));
    (window as unknown as { camSender: RTCRtpSender }).camSender = transceiver.sender;
    return { settings: track.getSettings(), errors: pushed.errors, tracks: pushed.tracks };
  }, { fps, rids: [...rids] });
  expect(result.errors).toBeUndefined();
  expect(result.tracks?.[0]?.error).toBeNull();
  return result.settings;
}

/**
 * The transceiver `mid` plays video: its <video> has a size and its decoded
 * frames and playback time go on over a second.
 */
export async function expectPlays(page: Page, mid: string, timeout = 15_000): Promise<{ width: number; frames: number }> {
  await page.evaluate((mid) => window.sy.watch(mid), mid);
  const playback = () => page.evaluate((mid) => window.sy.playback(mid), mid);
  await expect.poll(async () => { const p = await playback(); return p.width > 0 && p.frames > 0; }, { timeout, message: `mid ${mid} shows video` }).toBe(true);
  const before = await playback();
  await expect
    .poll(async () => { const p = await playback(); return p.frames > before.frames + 5 && p.time > before.time; }, { timeout: 5000, message: `mid ${mid} keeps playing` })
    .toBe(true);
  return playback();
}

/** Decoded frames of `mid` go on increasing from now. */
export async function expectFramesIncrease(page: Page, mid: string, timeout = 5000): Promise<void> {
  const frames = async () => (await page.evaluate((mid) => window.sy.playback(mid), mid)).frames;
  const before = await frames();
  await expect.poll(frames, { timeout, message: `mid ${mid}: frames after ${before}` }).toBeGreaterThan(before + 10);
}

export const SESSION_EVENTS = 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type mid } }';
export const TRACK_EVENTS = 'subscription($ids: [ID!]) { trackEvents(filter: { sessionIds: $ids }) { type track { name muted status } } }';

/** A graphql-ws subscription whose items carry the time they arrived in Node (Date.now()). */
export function timedCollect<T>(client: Client, query: string, variables: Record<string, unknown>, pick: (data: any) => T): Collector<T & { at: number }> {
  return collect(client, query, variables, (data) => ({ ...pick(data), at: Date.now() }));
}

/** Waits for the first item that matches, and returns it. */
export async function firstMatching<T>(collector: Collector<T>, match: (item: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = collector.items.find(match);
    if (found) return found;
    if (collector.errors.length) throw new Error(`subscription failed: ${JSON.stringify(collector.errors)}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms; events: ${JSON.stringify(collector.items)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The values of an SDP attribute (`a=<name>:value`), in order. */
export const sdpAttributes = (sdp: string, name: string) =>
  sdp.split(/\r?\n/).filter((line) => line.startsWith(`a=${name}:`)).map((line) => line.slice(name.length + 3));

/** The m= lines of an SDP. */
export const mLines = (sdp: string) => sdp.split(/\r?\n/).filter((line) => line.startsWith('m='));

/** One m-section of an SDP: its m= line, mid, direction and a=msid. */
export interface SdpSection {
  mLine: string;
  mid: string | null;
  msid: { streamId: string; trackId: string } | null;
  direction: string | null;
}

export function sdpSections(sdp: string): SdpSection[] {
  const sections: SdpSection[] = [];
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) sections.push({ mLine: line, mid: null, msid: null, direction: null });
    const section = sections.at(-1);
    if (!section) continue;
    if (line.startsWith('a=mid:')) section.mid = line.slice(6);
    if (line.startsWith('a=msid:')) {
      const [streamId = '', trackId = ''] = line.slice(7).split(' ');
      section.msid = { streamId, trackId };
    }
    if (/^a=(sendrecv|sendonly|recvonly|inactive)$/.test(line)) section.direction = line.slice(2);
  }
  return sections;
}
