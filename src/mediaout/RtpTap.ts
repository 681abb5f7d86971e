import { createSocket, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import { parseRtp, type RtpPacket } from './rtp.js';

/**
 * Media leaving the SFU for a process that is not a WebRTC peer (WebSocket
 * adapters, recording): a PlainTransport on the track's router consumes the
 * producer and sends its RTP, unencrypted, to a UDP socket of this process
 * on loopback. The consumer's RTP parameters (codec, payload type, clock
 * rate) say how to read it. Key frames can be asked for (video).
 */
export class RtpTap extends EventEmitter<{ rtp: [packet: RtpPacket]; close: [] }> {
  private isClosed = false;

  private constructor(
    readonly consumer: types.Consumer,
    private readonly transport: types.PlainTransport,
    private readonly socket: Socket,
  ) {
    super();
    socket.on('message', (datagram) => {
      const packet = parseRtp(datagram);
      if (packet && packet.ssrc === this.ssrc) this.emit('rtp', packet);
    });
    // The source went away (unpublished, its node or worker gone): the tap ends.
    consumer.observer.once('close', () => this.close());
  }

  /** Taps `producerId` on `router` (a track's own router, or one it is piped to). */
  static async open(router: types.Router, producerId: string, listenIp = '127.0.0.1'): Promise<RtpTap> {
    const socket = createSocket(listenIp.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, listenIp, () => resolve());
    });
    let transport: types.PlainTransport | undefined;
    try {
      transport = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: listenIp }, rtcpMux: true, comedia: false });
      await transport.connect({ ip: listenIp, port: socket.address().port });
      const consumer = await transport.consume({ producerId, rtpCapabilities: router.rtpCapabilities, paused: false });
      return new RtpTap(consumer, transport, socket);
    } catch (error) {
      transport?.close();
      socket.close();
      throw error;
    }
  }

  /** The codec of the tapped stream (e.g. audio/opus, video/VP8) and its clock rate. */
  get codec(): types.RtpCodecParameters {
    return this.consumer.rtpParameters.codecs[0]!;
  }

  get ssrc(): number | undefined {
    return this.consumer.rtpParameters.encodings?.[0]?.ssrc;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  requestKeyFrame(): Promise<void> {
    return this.consumer.requestKeyFrame();
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.transport.close();
    this.socket.close();
    this.emit('close');
  }
}
