import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';

export interface RtpForwardOptions {
  /** Where RTP goes, and RTCP (the sender reports that let a muxer line audio and video up). */
  ip: string;
  port: number;
  rtcpPort: number;
  /** Simulcast or SVC: the layer to forward (the top one by default). */
  spatialLayer?: number | undefined;
  /** The address mediasoup sends from. */
  listenIp?: string | undefined;
  /** Start paused (resume() starts it, and a video one then gets a key frame first). */
  paused?: boolean | undefined;
}

/**
 * A producer forwarded as plain RTP and RTCP straight from the worker to a
 * local process (ffmpeg recording it), with no hop through Node: a
 * PlainTransport consumes the producer and sends to the process's ports.
 * Unlike RtpTap, this process never sees the packets; it can ask for key
 * frames and learn when the source ends.
 */
export class RtpForward extends EventEmitter<{ close: [] }> {
  private isClosed = false;

  private constructor(
    readonly consumer: types.Consumer,
    private readonly transport: types.PlainTransport,
  ) {
    super();
    // The source went away (unpublished, its node or worker gone).
    consumer.observer.once('close', () => this.close());
  }

  static async open(router: types.Router, producerId: string, options: RtpForwardOptions): Promise<RtpForward> {
    const listenIp = options.listenIp ?? '127.0.0.1';
    const transport = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: listenIp }, rtcpMux: false, comedia: false });
    try {
      await transport.connect({ ip: options.ip, port: options.port, rtcpPort: options.rtcpPort });
      const consumer = await transport.consume({ producerId, rtpCapabilities: router.rtpCapabilities, paused: options.paused ?? false });
      // mediasoup forwards a simulcast or SVC source's top layer unless told otherwise.
      if ((consumer.type === 'simulcast' || consumer.type === 'svc') && options.spatialLayer !== undefined) {
        await consumer.setPreferredLayers({ spatialLayer: options.spatialLayer });
      }
      return new RtpForward(consumer, transport);
    } catch (error) {
      transport.close();
      throw error;
    }
  }

  get codec(): types.RtpCodecParameters {
    return this.consumer.rtpParameters.codecs[0]!;
  }

  get kind(): types.MediaKind {
    return this.consumer.kind;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Starts forwarding; a video consumer asks its producer for a key frame as it resumes (mediasoup does). */
  resume(): Promise<void> {
    return this.isClosed ? Promise.resolve() : this.consumer.resume();
  }

  requestKeyFrame(): Promise<void> {
    return this.consumer.kind === 'video' && !this.isClosed ? this.consumer.requestKeyFrame() : Promise.resolve();
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.transport.close();
    this.emit('close');
  }
}
