import { spawn } from 'node:child_process';
import { join } from 'node:path';
import wrtc from '@roamhq/wrtc';
import { describe, expect, it } from 'vitest';
import { toneMicrophone, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { useTestServer } from '../helpers/server.js';
import { dominantFrequency } from '../helpers/audio.js';

const { RTCAudioSink } = wrtc.nonstandard;

/**
 * The example service of docs/adapters.md, run as a user would against a
 * real node: it hears a libwebrtc publisher's 440 Hz tone through an egress
 * adapter and says it back through an ingest adapter; a subscriber of the
 * echo track hears 440 Hz.
 */
const file = useTestServer({ WORKERS: '1' });

describe('examples/adapter-echo.mjs', () => {
  it('echoes a microphone back as a track of its own', { timeout: 40_000 }, async () => {
    const microphone = toneMicrophone(440, 8000);
    const publisher = new TestPeer(file.server.url);
    const subscriber = new TestPeer(file.server.url);
    try {
      await publisher.createSession();
      await publisher.push([{ track: microphone.track, name: 'mic' }]);
      const run = spawn(process.execPath, [join(import.meta.dirname, '../../examples/adapter-echo.mjs'), file.server.url, publisher.sessionId, 'mic'], { cwd: '/tmp', stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      run.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      run.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      try {
        await waitFor('the example to publish its echo', () => /echo published: pull session (\S+), track echo/.test(output), 15_000);
        const echoSession = /pull session (\S+?),/.exec(output)![1]!;
        await subscriber.createSession();
        await subscriber.pull([{ sessionId: echoSession, trackName: 'echo' }]);
        await waitFor('the echo track', () => subscriber.received.size > 0, 10_000);
        const samples: number[] = [];
        const sink = new RTCAudioSink([...subscriber.received.values()][0]!);
        sink.ondata = ({ samples: chunk, channelCount }: { samples: Int16Array; channelCount: number }) => {
          for (let i = 0; i < chunk.length; i += channelCount) samples.push(chunk[i]!);
        };
        await waitFor('a second of loud echo', () => samples.filter((s) => Math.abs(s) > 2000).length > 10_000 && samples.length > 96_000, 15_000);
        sink.stop();
        const frequency = dominantFrequency(samples.slice(-48_000), 48_000, 200, 1200);
        console.log(`example echo: ${frequency} Hz`);
        expect(Math.abs(frequency - 440)).toBeLessThanOrEqual(3);
      } finally {
        run.kill();
      }
    } finally {
      microphone.stop();
      publisher.stop();
      subscriber.stop();
    }
  });
});
