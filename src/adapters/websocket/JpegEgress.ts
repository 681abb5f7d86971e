import type { RtpTap } from '../../mediaout/RtpTap.js';
import { JpegFrames, type JpegOptions } from '../../mediaout/JpegFrames.js';
import { encodePacket } from './packet.js';
import { EgressSocket, type EgressSocketOptions } from './EgressSocket.js';

/**
 * A video track to a service's WebSocket as Cloudflare's remote JPEG
 * adapter sends it: one complete JPEG per message, 1 frame per second
 * unless asked otherwise. `sequenceNumber` counts images from 0 and
 * `timestamp` is milliseconds since the adapter started (Cloudflare leaves
 * both loosely defined for video). While the service reconnects only the
 * latest image is kept.
 */
export class JpegEgress {
  private sequence = 0;
  private readonly startedAt = performance.now();

  private constructor(
    readonly frames: JpegFrames,
    readonly socket: EgressSocket,
  ) {
    frames.on('jpeg', (image) => {
      const timestamp = Math.round(performance.now() - this.startedAt) >>> 0;
      socket.send(encodePacket({ sequenceNumber: this.sequence++ >>> 0, timestamp, payload: image }), image.length);
    });
    frames.once('close', (reason) => socket.close(reason, reason !== 'the track ended'));
    socket.once('closed', () => frames.close());
  }

  get bytesProcessed(): number {
    return this.socket.bytesProcessed;
  }

  close(reason = 'closed'): void {
    this.socket.close(reason);
  }

  static async start(tap: RtpTap, options: Omit<EgressSocketOptions, 'backlogMessages'> & { jpeg: JpegOptions }): Promise<JpegEgress> {
    const socket = await EgressSocket.connect({ ...options, backlogMessages: 1 });
    try {
      return new JpegEgress(await JpegFrames.start(tap, options.jpeg), socket);
    } catch (error) {
      socket.close('ffmpeg could not start', true);
      throw error;
    }
  }
}
