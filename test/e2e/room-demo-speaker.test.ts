import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { enterDemo, remoteNames, useDemoServer } from '../helpers/demoPage.js';

/**
 * The room demo outlines the tile of whoever speaks, in real Chromium.
 *
 * Chromium's fake microphone is one device for the whole browser and beeps
 * the same in every page, so every page here gets a voice of its own
 * instead: before the demo's script runs, getUserMedia hands it a WebAudio
 * track, silent until the test makes it talk. Talking is a tone whose
 * loudness goes in syllables and pauses, as speechEnvelope in
 * test/helpers/media.ts says and for its reasons: the SFU's speaker detection
 * takes the quietest level it hears from someone as their background noise
 * (a steady tone never counts as speech), and a periodic swell can fall in
 * step with the detector's interval and never be named.
 */
const demo = useDemoServer();

/** What the voice of a page offers the test. */
type Voiced = { voice: { talk(on: boolean): void } };

/** Runs in each page before its scripts (serialized: self-contained, no named inner functions). */
function fakeVoice(): void {
  const devices = navigator.mediaDevices;
  const original = devices.getUserMedia.bind(devices);
  devices.getUserMedia = async (constraints) => {
    const media = await original({ ...constraints, audio: false });
    if (!constraints?.audio) return media;
    const context = new AudioContext();
    // A 440 Hz tone; its loudness follows 20 s of syllables (10 ms steps, drawn at random), looped.
    const tone = new OscillatorNode(context, { frequency: 440 });
    const syllables = new GainNode(context, { gain: 0 });
    const rate = 3000;
    const steps: number[] = [];
    while (steps.length < 2000) {
      if (Math.random() < 0.15) for (let i = Math.round(15 + Math.random() * 20); i > 0; i -= 1) steps.push(0.03);
      const length = Math.round(10 + Math.random() * 18);
      const peak = 0.6 + Math.random() * 0.4;
      for (let i = 0; i < length; i += 1) steps.push(peak * Math.min(1, (i + 1) / 3, (length - i) / 4));
      for (let i = Math.round(3 + Math.random() * 5); i > 0; i -= 1) steps.push(0.1);
    }
    const envelope = new AudioBuffer({ length: steps.length * (rate / 100), sampleRate: rate, numberOfChannels: 1 });
    const samples = envelope.getChannelData(0);
    for (const [i, step] of steps.entries()) samples.fill(step, i * (rate / 100), (i + 1) * (rate / 100));
    const swell = new AudioBufferSourceNode(context, { buffer: envelope, loop: true });
    swell.connect(syllables.gain);
    const volume = new GainNode(context, { gain: 0 });
    const microphone = new MediaStreamAudioDestinationNode(context);
    tone.connect(syllables).connect(volume).connect(microphone);
    tone.start();
    swell.start();
    await context.resume();
    (window as unknown as Voiced).voice = { talk: (on) => volume.gain.setValueAtTime(on ? 0.3 : 0, context.currentTime) };
    media.addTrack(microphone.stream.getAudioTracks()[0]!);
    return media;
  };
}

/** Names on the outlined tiles of a page (the dominant speaker's, one at most). */
const outlined = (page: Page) => page.$$eval('.tile.speaking', (tiles) => tiles.map((t) => (t as HTMLElement).dataset.name));

/** Makes `page` talk (or fall silent). */
const talk = (page: Page, on: boolean) => page.evaluate((value) => (window as unknown as Voiced).voice.talk(value), on);

/** Waits until every page in `watchers` outlines `name`'s tile and only it; answers how long that took (ms). */
async function outlinedOn(watchers: Page[], name: string): Promise<number> {
  const since = Date.now();
  for (const page of watchers) await expect.poll(() => outlined(page), { timeout: 10_000, interval: 100 }).toEqual([name]);
  return Date.now() - since;
}

describe('the room demo shows who speaks', () => {
  it('outlines the tile of whoever talks, and moves the outline when someone else does', { timeout: 90_000 }, async () => {
    const ada = await enterDemo(demo.browser, demo.server.url, 'speakers', 'Ada Lovelace', fakeVoice);
    const grace = await enterDemo(demo.browser, demo.server.url, 'speakers', 'Grace Hopper', fakeVoice);
    const alan = await enterDemo(demo.browser, demo.server.url, 'speakers', 'Alan Turing', fakeVoice);
    for (const page of [ada, grace, alan]) await expect.poll(async () => (await remoteNames(page)).length, { timeout: 15_000 }).toBe(2);

    // Before anyone spoke, the SFU may have named someone already (mediasoup's first pick): Alan talks to begin from a known speaker.
    const before = await outlined(ada);
    await talk(alan, true);
    const alanMs = await outlinedOn([ada, grace], 'Alan Turing');
    // The outline is visible: the ring of demo.css (--ok), not the plain shadow of the others.
    const shadow = (page: Page, name: string) => page.$eval(`.tile[data-name="${name}"]`, (t) => getComputedStyle(t).boxShadow);
    await expect.poll(() => shadow(ada, 'Alan Turing')).toContain('rgb(60, 207, 142)');
    expect(await shadow(ada, 'Grace Hopper')).not.toContain('rgb(60, 207, 142)');

    // He stops and Grace talks: the outline moves to her on Ada's and Alan's pages.
    await talk(alan, false);
    await talk(grace, true);
    const graceMs = await outlinedOn([ada, alan], 'Grace Hopper');

    // And back to Alan: it follows the conversation, not only one change.
    await talk(grace, false);
    await talk(alan, true);
    const backMs = await outlinedOn([ada, grace], 'Alan Turing');
    console.log(
      `room demo: outlined before anyone spoke: ${before.join(', ') || 'nobody'}; the outline reached the watchers' pages ${alanMs} ms after Alan began to talk, ${graceMs} ms after Grace took over, ${backMs} ms after Alan again`,
    );
    // One's own tile is never outlined: the SFU weighs only the voices a session pulls.
    for (const page of [ada, grace, alan]) expect(await page.$$('.tile.self.speaking')).toHaveLength(0);
  });
});
