import { fakeCamera, toneMicrophone, waitFor, watchVideo } from './media.js';
import { TestPeer } from './peer.js';

/**
 * A call that carries media: one session publishes a fake camera, another
 * pulls it and decodes frames. Tests that attack a server keep one running to
 * show that the media of others flows on untouched.
 */
export async function startCall(url: string, options: { credential?: string; trackName?: string; tags?: string[] } = {}) {
  const publisher = new TestPeer(url, options.credential);
  const subscriber = new TestPeer(url, options.credential);
  const camera = fakeCamera(160, 120);
  const trackName = options.trackName ?? 'cam';
  await publisher.createSession();
  await subscriber.createSession();
  await publisher.push([{ track: camera.track, name: trackName, tags: options.tags ?? [] }]);
  await subscriber.pull([{ sessionId: publisher.sessionId, trackName }]);
  await waitFor('the subscriber receives the track', () => subscriber.received.size === 1);
  const video = watchVideo([...subscriber.received.values()][0]!);
  await waitFor('frames decoded', () => video.stats.frames > 5);
  return {
    publisher,
    subscriber,
    video,
    /** Resolves when more frames were decoded over the next moment; rejects after timeoutMs. */
    async stillFlowing(timeoutMs = 5_000) {
      const before = video.stats.frames;
      await waitFor('frames keep arriving', () => video.stats.frames > before + 5, timeoutMs);
    },
    stop() {
      video.stop();
      camera.stop();
      publisher.stop();
      subscriber.stop();
    },
  };
}

/** A session that publishes one fake camera (160x120, at `fps`) with these tags. */
export async function publishCamera(url: string, credential: string | undefined, trackName: string, tags: string[], fps = 30) {
  const peer = new TestPeer(url, credential);
  const camera = fakeCamera(160, 120, fps);
  await peer.createSession();
  const [pushed] = await peer.push([{ track: camera.track, name: trackName, tags }]);
  return {
    peer,
    /** What pushTracks answered for the camera. */
    pushed,
    stop() {
      camera.stop();
      peer.stop();
    },
  };
}

/** A session on `url` publishing a 320x240 camera ('camera') and a 440 Hz microphone ('mic'), or only the ones named. */
export async function publishCameraAndMic(url: string, credential?: string, names: ('camera' | 'mic')[] = ['camera', 'mic']) {
  const camera = fakeCamera(320, 240, 30);
  const mic = toneMicrophone(440, 8000);
  const peer = new TestPeer(url, credential);
  const stop = () => (camera.stop(), mic.stop(), peer.stop());
  try {
    await peer.createSession();
    await peer.push(names.map((name) => ({ track: name === 'camera' ? camera.track : mic.track, name })));
  } catch (error) {
    stop();
    throw error;
  }
  return { peer, stop };
}
