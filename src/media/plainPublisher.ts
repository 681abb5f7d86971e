import { createSocket, type Socket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import type { types } from 'mediasoup';
import { writeRtp } from '../mediaout/rtp.js';

/** Opus as WebRTC carries it: 48 kHz RTP clock, "2 channels" in SDP whatever the encoder sends. */
export const OPUS_CODEC: types.RtpCodecParameters = {
  mimeType: 'audio/opus',
  payloadType: 111,
  clockRate: 48_000,
  channels: 2,
  parameters: { useinbandfec: 1, 'sprop-stereo': 1 },
};

/**
 * A producer fed by this process rather than a WebRTC peer (the ingest of
 * WebSocket adapters): a PlainTransport on a router, without SRTP, takes RTP
 * from a UDP socket of this process on loopback (comedia: the first packet
 * names the sender). Subscribers consume the producer like any other.
 */
export class PlainRtpPublisher {
  private sequence = randomInt(0, 0x10000);
  private readonly ssrc: number;

  private constructor(
    readonly producer: types.Producer,
    private readonly transport: types.PlainTransport,
    private readonly socket: Socket,
    private readonly port: number,
    private readonly ip: string,
  ) {
    this.ssrc = producer.rtpParameters.encodings![0]!.ssrc!;
  }

  static async open(router: types.Router, codec: types.RtpCodecParameters = OPUS_CODEC, listenIp = '127.0.0.1'): Promise<PlainRtpPublisher> {
    const socket = createSocket(listenIp.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, listenIp, () => resolve());
    });
    socket.on('error', () => undefined);
    let transport: types.PlainTransport | undefined;
    try {
      transport = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: listenIp }, rtcpMux: true, comedia: true });
      const kind = codec.mimeType.toLowerCase().startsWith('audio/') ? 'audio' : 'video';
      const producer = await transport.produce({ kind, rtpParameters: { codecs: [codec], encodings: [{ ssrc: randomInt(1, 0xffffffff) }] } });
      return new PlainRtpPublisher(producer, transport, socket, transport.tuple.localPort, listenIp);
    } catch (error) {
      transport?.close();
      socket.close();
      throw error;
    }
  }

  get closed(): boolean {
    return this.transport.closed;
  }

  /** Sends one frame's payload with `timestamp` (in the codec's clock), the next sequence number. */
  send(payload: Buffer, timestamp: number, marker = false): void {
    if (this.transport.closed) return;
    const packet = writeRtp({ payloadType: this.producer.rtpParameters.codecs[0]!.payloadType, sequenceNumber: this.sequence, timestamp, ssrc: this.ssrc, marker, payload });
    this.sequence = (this.sequence + 1) & 0xffff;
    this.socket.send(packet, this.port, this.ip);
  }

  close(): void {
    this.transport.close();
    try {
      this.socket.close();
    } catch {
      // Already closed.
    }
  }
}
