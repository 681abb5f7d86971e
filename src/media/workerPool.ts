import { EventEmitter } from 'node:events';
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import type { Logger } from '../logger.js';
import { ROUTER_MEDIA_CODECS } from './codecs.js';

export interface WorkerPoolOptions {
  workers: number;
  /** Worker i listens on rtcPort + i (UDP and TCP). */
  rtcPort: number;
  rtcListenIp: string;
  rtcAnnouncedIp: string | undefined;
  /** Listen for ICE over TCP too. mediasoup never closes a TCP connection that does not complete ICE (docs/security.md). */
  rtcTcp: boolean;
  logger: Logger;
}

/** One mediasoup worker process with the router and WebRtcServer it hosts. */
export interface MediaWorker {
  /** Stable slot number: a replacement worker takes the slot of the one that died. */
  readonly index: number;
  readonly worker: types.Worker;
  readonly router: types.Router;
  readonly webRtcServer: types.WebRtcServer;
  /** Sessions placed here; used to spread new sessions. */
  load: number;
}

interface WorkerPoolEvents {
  /** A worker died; everything it hosted is gone. A replacement is being started. */
  workerDied: [worker: MediaWorker];
  /** A worker (first or replacement) is ready in its slot. */
  workerReady: [worker: MediaWorker];
}

const RESTART_DELAY_MS = 1_000;

/**
 * The machine's media capacity: one mediasoup worker per slot (one per core by
 * default), each with one router and one WebRtcServer so that every session on
 * a worker shares the worker's single UDP and TCP port.
 */
export class WorkerPool extends EventEmitter<WorkerPoolEvents> {
  private readonly slots: (MediaWorker | undefined)[];
  private closed = false;

  constructor(private readonly options: WorkerPoolOptions) {
    super();
    this.slots = new Array<MediaWorker | undefined>(options.workers).fill(undefined);
  }

  async start(): Promise<void> {
    await Promise.all(this.slots.map((_, index) => this.startSlot(index)));
  }

  /** Every slot has a live worker. */
  get healthy(): boolean {
    return !this.closed && this.slots.every((slot) => slot !== undefined && !slot.worker.closed);
  }

  /** Whether the workers listen for ICE over TCP (RTC_TCP). */
  get rtcTcp(): boolean {
    return this.options.rtcTcp;
  }

  get workers(): readonly MediaWorker[] {
    return this.slots.filter((slot): slot is MediaWorker => slot !== undefined);
  }

  /** The live worker with the fewest sessions, for a new session. */
  pick(): MediaWorker {
    let best: MediaWorker | undefined;
    for (const slot of this.slots) {
      if (slot && !slot.worker.closed && (!best || slot.load < best.load)) best = slot;
    }
    if (!best) throw new Error('no mediasoup worker is available');
    return best;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const slot of this.slots) slot?.worker.close();
  }

  private async startSlot(index: number): Promise<void> {
    const { logger } = this.options;
    const worker = await mediasoup.createWorker({
      logLevel: (process.env.MEDIASOUP_LOG_LEVEL as types.WorkerLogLevel | undefined) ?? 'warn',
      logTags: ['info', 'ice', 'dtls', 'srtp', 'rtp', 'rtcp'],
      appData: { index },
    });
    leaveSignalsToTheNode(worker);
    const port = this.options.rtcPort + index;
    const listen = {
      ip: this.options.rtcListenIp,
      announcedAddress: this.options.rtcAnnouncedIp,
      port,
    };
    let webRtcServer: types.WebRtcServer;
    let router: types.Router;
    try {
      webRtcServer = await worker.createWebRtcServer({
        listenInfos: [{ ...listen, protocol: 'udp' }, ...(this.options.rtcTcp ? [{ ...listen, protocol: 'tcp' as const }] : [])],
      });
      router = await worker.createRouter({ mediaCodecs: ROUTER_MEDIA_CODECS });
    } catch (error) {
      worker.close();
      throw error;
    }
    const slot: MediaWorker = { index, worker, router, webRtcServer, load: 0 };
    this.slots[index] = slot;
    logger.info({ worker: index, workerPid: worker.pid, port }, 'mediasoup worker ready');

    worker.on('died', (error) => {
      logger.error({ worker: index, workerPid: worker.pid, err: error }, 'mediasoup worker died; replacing it');
      this.slots[index] = undefined;
      this.emit('workerDied', slot);
      void this.restartSlot(index);
    });
    this.emit('workerReady', slot);
  }

  private async restartSlot(index: number): Promise<void> {
    while (!this.closed && this.slots[index] === undefined) {
      try {
        await this.startSlot(index);
      } catch (error) {
        this.options.logger.error({ worker: index, err: error }, 'restarting mediasoup worker failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, RESTART_DELAY_MS));
      }
    }
  }
}

/**
 * mediasoup 3.19.22+ closes every worker when the Node process gets SIGINT or
 * SIGTERM (its own process.once listeners). A node drains on SIGTERM
 * (src/main.ts): its sessions must keep their media until they end or the
 * drain deadline passes, and the node closes the pool itself afterwards. The
 * listener is a private field of mediasoup's Worker; if a release renames it,
 * nothing is removed and test/integration/node-exit.test.ts's drain fails.
 */
function leaveSignalsToTheNode(worker: types.Worker): void {
  const listener = (worker as unknown as { onSignal?: unknown }).onSignal;
  if (typeof listener !== 'function') return;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.removeListener(signal, listener as (signal: NodeJS.Signals) => void);
}
