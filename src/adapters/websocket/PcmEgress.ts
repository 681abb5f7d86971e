import type { RtpTap } from '../../mediaout/RtpTap.js';
import { OpusPcmDecoder, type PcmFormat } from '../../mediaout/OpusPcmDecoder.js';
import { encodePacket } from './packet.js';
import { EgressSocket, type EgressSocketOptions } from './EgressSocket.js';

/**
 * A track's audio to a service's WebSocket, as Cloudflare's remote PCM
 * adapter sends it: one Packet per decoded Opus frame (20 ms: 3,840 bytes
 * of 48 kHz stereo s16le; 640 bytes at 16 kHz mono), `sequenceNumber`
 * counting packets from 0 and `timestamp` counting samples at the PCM's
 * rate from 0 (Cloudflare does not say its units; samples make gaps and
 * pauses readable). The socket reconnects as EgressSocket says.
 */
export class PcmEgress {
  private readonly decoder: OpusPcmDecoder;
  private sequence = 0;
  private samples = 0;

  private constructor(
    tap: RtpTap,
    readonly socket: EgressSocket,
    private readonly format: PcmFormat,
  ) {
    this.decoder = new OpusPcmDecoder(format);
    tap.on('rtp', (packet) => {
      for (const pcm of this.decoder.decode(packet)) this.send(pcm);
    });
    tap.once('close', () => socket.close('the track ended'));
    socket.once('closed', () => {
      tap.close();
      this.decoder.close();
    });
  }

  /** Connects to the service first (its refusal is the caller's error), then forwards the track. */
  get bytesProcessed(): number {
    return this.socket.bytesProcessed;
  }

  close(reason = 'closed'): void {
    this.socket.close(reason);
  }

  static async start(tap: RtpTap, options: EgressSocketOptions & { format: PcmFormat }): Promise<PcmEgress> {
    return new PcmEgress(tap, await EgressSocket.connect(options), options.format);
  }

  private send(pcm: Buffer): void {
    const message = encodePacket({ sequenceNumber: this.sequence >>> 0, timestamp: this.samples >>> 0, payload: pcm });
    this.sequence += 1;
    this.samples += pcm.length / (2 * this.format.channels);
    this.socket.send(message, pcm.length);
  }
}
