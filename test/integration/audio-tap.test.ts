import { describe, expect, it } from 'vitest';
import { fakeMicrophone, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { useTestServer } from '../helpers/server.js';
import { dominantFrequency, leftChannel } from '../helpers/audio.js';
import { RtpTap } from '../../src/mediaout/RtpTap.js';
import { OpusPcmDecoder, PCM_CHANNELS, PCM_RATE } from '../../src/mediaout/OpusPcmDecoder.js';

/**
 * The way out of the SFU that the WebSocket adapters and recording share:
 * a published libwebrtc microphone (a 440 Hz tone) tapped on its router
 * (RtpTap: a PlainTransport to a UDP socket of this process) and decoded
 * from Opus (OpusPcmDecoder): the PCM is the tone, at 48,000 samples per
 * second of wall time.
 */
const file = useTestServer({ WORKERS: '1' });
const server = () => file.server;

describe('an audio track tapped and decoded to PCM', () => {
  it('is the publisher\'s 440 Hz tone, at 48 kHz of wall time, and the tap ends with the track', { timeout: 30_000 }, async () => {
    const microphone = fakeMicrophone();
    const publisher = new TestPeer(server().url);
    try {
      await publisher.createSession();
      await publisher.push([{ track: microphone.track, name: 'mic' }]);
      const track = server().sessions.tracks.get(publisher.sessionId, 'mic')!;
      expect(track).toBeDefined();
      const tap = await RtpTap.open(track.router, track.producer.id);
      expect(tap.codec.mimeType.toLowerCase()).toBe('audio/opus');
      const decoder = new OpusPcmDecoder();
      const chunks: Buffer[] = [];
      let first = 0;
      tap.on('rtp', (packet) => {
        first ||= performance.now();
        chunks.push(...decoder.decode(packet));
      });
      await waitFor('the first packets', () => chunks.length > 10, 10_000);
      // Measured from the first packet over four seconds of wall time.
      chunks.length = 0;
      const started = performance.now();
      await new Promise((resolve) => setTimeout(resolve, 4000));
      const elapsed = (performance.now() - started) / 1000;
      const pcm = Buffer.concat(chunks);
      const samplesPerSecond = pcm.length / (2 * PCM_CHANNELS) / elapsed;
      const frequency = dominantFrequency(leftChannel(pcm).subarray(0, PCM_RATE), PCM_RATE, 200, 1200);
      console.log(`audio tap: ${frequency} Hz, ${samplesPerSecond.toFixed(0)} samples/s over ${elapsed.toFixed(2)} s of wall time`);
      expect(Math.abs(frequency - 440)).toBeLessThanOrEqual(3);
      expect(Math.abs(samplesPerSecond - PCM_RATE) / PCM_RATE).toBeLessThan(0.02);

      const ended = new Promise<void>((resolve) => tap.once('close', () => resolve()));
      await publisher.close([...publisher.pc.getTransceivers()].filter((t) => t.mid && t.mid !== '0').map((t) => t.mid!));
      await ended;
      decoder.close();
    } finally {
      microphone.stop();
      publisher.stop();
    }
  });
});
