/** bench:adapters' CPU phases: PCM egress and ingest adapters, JPEG adapters, and the plain subscribers to compare them with. */
import { spawn } from 'node:child_process';
import { gqlOk } from '../../test/helpers/graphql.js';
import { encoderState, sleep, waitUntil } from '../forwarding/raw.js';
import { ffmpegChildren } from '../lib/cpu.js';
import { ageOf, readStamp, watchAges } from '../lib/media.js';
import { closeSubscribers, packetRates, subscribers } from '../lib/peers.js';
import { epoch } from '../lib/settings.js';
import { closeAdapters, createAdapters, measurePhase, messageRates, type Context, type Phase } from './context.js';
import { SETTLE_SECONDS } from './settings.js';

/** a. N PCM egress adapters on the mic. */
export function pcmEgress(ctx: Context, n: number) {
  return measurePhase(ctx, 'pcm-egress', n, async (id) => {
    const before = (await ctx.node.ask({ cmd: 'egress', from: Number.MAX_SAFE_INTEGER }, 'egress')).count;
    const paths = Array.from({ length: n }, (_, k) => `/egress/${id}/${k}`);
    const adapters = await createAdapters(ctx, paths.map((path) => ({ location: 'REMOTE', sessionId: ctx.publisher.sessionId, trackName: 'mic', codec: 'PCM', endpoint: ctx.service.url(path) })));
    await waitUntil('PCM at every egress socket', () => paths.every((p) => (ctx.service.get(p)?.messages ?? 0) > 10), 15_000);
    const rates = messageRates(ctx, paths);
    return {
      state: null,
      check: (_: null, seconds: number) => rates(seconds),
      finish: async (_: null, from: number, to: number) => {
        const egresses = (await ctx.node.ask({ cmd: 'egress', from: before }, 'egress')).egresses;
        const latencies: number[] = [];
        let unmatched = 0;
        paths.forEach((path, k) => {
          const c = ctx.service.get(path)!;
          const egress = egresses[k];
          if (!egress) return;
          c.arrivals.forEach((at, seq) => {
            if (at < from || at > to) return;
            const decodedAt = egress.times[seq];
            // Packet `seq` is the decoder's call `seq` while none was lost: its timestamp then counts 960 samples a packet.
            if (decodedAt === undefined || c.timestamps[seq] !== seq * 960) return void (unmatched += 1);
            latencies.push(at - (decodedAt - ctx.clockOffset));
          });
        });
        return { latencies, unmatched };
      },
      undo: () => closeAdapters(ctx, adapters, paths),
    };
  });
}

/** N plain subscribers pulling `trackName` of the publisher. */
export const pullers = (ctx: Context, n: number, trackName: string) => subscribers(ctx.url, ctx.publisher.sessionId, n, [trackName]);

/** a'. N plain audio subscribers: the baseline for PCM egress. */
export async function audioSubscribers(ctx: Context, n: number): Promise<Phase> {
  const peers = await pullers(ctx, n, 'mic');
  const rates = packetRates(peers);
  try {
    await sleep(SETTLE_SECONDS * 1000);
    await rates.start();
    const phase = await measurePhase(ctx, 'audio-subscribers', n, async () => ({ state: null, undo: async () => undefined }));
    // measurePhase settled again before its window; the packet rate is over both.
    phase.work = await rates.end(phase.seconds + SETTLE_SECONDS);
    return phase;
  } finally {
    await closeSubscribers(ctx.url, peers);
  }
}

/** b. N PCM ingest adapters, fed in real time by the service. */
export function pcmIngest(ctx: Context, n: number) {
  return measurePhase(ctx, 'pcm-ingest', n, async (id) => {
    const paths = Array.from({ length: n }, (_, k) => `/ingest/${id}/${k}`);
    const adapters = await createAdapters(ctx, paths.map((path, k) => ({ location: 'LOCAL', trackName: `ingest-${id}-${k}`, endpoint: ctx.service.url(path) })));
    let sentAt: number[] = [];
    const bytes = async () => Promise.all(adapters.map(async (a) => (await gqlOk(ctx.url, 'query($id: ID!) { webSocketAdapter(id: $id) { bytesProcessed } }', { id: a.id })).webSocketAdapter.bytesProcessed as number));
    return {
      state: null,
      check: (_: null, seconds: number) => {
        const sent = paths.map((p) => ctx.service.get(p)?.sent ?? 0);
        if (seconds === 0) {
          sentAt = sent;
          return '';
        }
        const rates = sent.map((s, i) => (s - sentAt[i]!) / seconds);
        return `${Math.min(...rates).toFixed(1)}-${Math.max(...rates).toFixed(1)} Packets/s sent each`;
      },
      finish: async () => {
        // What each adapter took from its socket (bytesProcessed) since it was created: 192 KB/s is real time.
        const now = epoch();
        const rates = (await bytes()).map((b, i) => b / ((now - adapters[i]!.createdAt) / 1000) / 1000);
        return { note: `adapters took ${Math.min(...rates).toFixed(0)}-${Math.max(...rates).toFixed(0)} KB/s each` };
      },
      undo: () => closeAdapters(ctx, adapters, paths),
    };
  });
}

/** JPEG images (whole phase) to luma at 320x240 with ffmpeg, and each image's age (arrival minus the capture time it shows). */
function jpegAges(images: { at: number; image: Uint8Array }[]): Promise<number[]> {
  if (images.length === 0) return Promise.resolve([]);
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', ['-v', 'error', '-f', 'image2pipe', '-c:v', 'mjpeg', '-i', 'pipe:0', '-vf', 'scale=320:240', '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.stdin.on('error', () => undefined);
    child.once('error', reject);
    child.once('close', (code) => {
      const raw = Buffer.concat(chunks);
      const frame = 320 * 240;
      if (code !== 0 || raw.length !== frame * images.length) return reject(new Error(`ffmpeg decoded ${raw.length / frame} of ${images.length} images (exit ${code}): ${err.trim()}`));
      resolve(images.map((img, i) => ageOf(readStamp(raw.subarray(i * frame, (i + 1) * frame), 320, 240), img.at)).filter((age) => age < 10_000));
    });
    child.stdin.end(Buffer.concat(images.map((i) => i.image)));
  });
}

/** Per JPEG phase, in order (the warm-up's first): ffmpeg processes that outlived their adapters by 2 s. */
export const leftFfmpeg: number[] = [];

/** ffmpeg should end with its adapter: any still running 2 s later is counted, then killed (by pid). */
export async function killLeftFfmpeg(ctx: Context): Promise<void> {
  await sleep(2000);
  const left = ffmpegChildren(ctx.nodePid);
  for (const pid of left) process.kill(pid, 'SIGKILL');
  leftFfmpeg.push(left.length);
}

/** c. N JPEG adapters on the camera at `fps`, at the track's own size. */
export function jpegEgress(ctx: Context, n: number, fps: 1 | 5) {
  return measurePhase(ctx, fps === 1 ? 'jpeg-1' : 'jpeg-5', n, async (id) => {
    const paths = Array.from({ length: n }, (_, k) => `/jpeg/${id}/${k}`);
    const adapters = await createAdapters(ctx, paths.map((path) => ({ location: 'REMOTE', sessionId: ctx.publisher.sessionId, trackName: 'cam', codec: 'JPEG', frameRate: fps, endpoint: ctx.service.url(path) })));
    await waitUntil('an image at every JPEG socket', () => paths.every((p) => (ctx.service.get(p)?.messages ?? 0) > 0), 30_000);
    const firstImageMs = paths.map((p, k) => ctx.service.get(p)!.images[0]!.at - (adapters[k]!.createdAt + 0));
    const rates = messageRates(ctx, paths);
    return {
      state: null,
      check: (_: null, seconds: number) => rates(seconds).replace('msg/s', 'images/s'),
      finish: async (_: null, from: number, to: number) => {
        const images = paths.flatMap((p) => ctx.service.get(p)!.images.filter((i) => i.at >= from && i.at <= to));
        const sizes = images.map((i) => i.image.length);
        const encoder = await encoderState(ctx.publisher.pc);
        return {
          latencies: await jpegAges(images),
          firstImageMs,
          note: `JPEGs ${Math.min(...sizes)}-${Math.max(...sizes)} bytes; publisher encoding ${encoder.size} (${encoder.limitation})`,
        };
      },
      undo: async () => {
        await closeAdapters(ctx, adapters, paths);
        await killLeftFfmpeg(ctx);
      },
    };
  });
}

/** c'. One plain video subscriber: the baseline for JPEG (its CPU, and the age of the frames it decodes). */
export async function videoSubscriber(ctx: Context): Promise<Phase> {
  const [peer] = await pullers(ctx, 1, 'cam');
  const track = [...peer!.received.values()].find((t) => t.kind === 'video')!;
  const ages = watchAges(track);
  try {
    const phase = await measurePhase(ctx, 'video-subscriber', 1, async () => ({ state: null, undo: async () => undefined }));
    const inWindow = ages.ages.filter((a) => a.at >= phase.from && a.at <= phase.to);
    phase.latencies = inWindow.map((a) => a.age);
    const encoder = await encoderState(ctx.publisher.pc);
    phase.work = `${(inWindow.length / phase.seconds).toFixed(1)} frames/s decoded`;
    phase.note = `publisher encoding ${encoder.size} (${encoder.limitation})`;
    return phase;
  } finally {
    ages.stop();
    await closeSubscribers(ctx.url, [peer!]);
  }
}
