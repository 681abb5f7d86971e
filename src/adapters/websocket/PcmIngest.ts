import { EventEmitter } from 'node:events';
import { Encoder } from '@evan/opus';
import type WebSocket from 'ws';
import type { PlainRtpPublisher } from '../../media/plainPublisher.js';
import { pcmBytes, type PcmFormat } from '../../mediaout/OpusPcmDecoder.js';
import { decodePacket } from './packet.js';

export interface PcmIngestOptions {
  format: PcmFormat;
  /** Audio held ahead of real time; what arrives beyond it is dropped (the newest: what is queued plays in order). */
  bufferMs: number;
}

const FRAME_MS = 20;
/** Opus's RTP clock is 48 kHz whatever the encoder's rate. */
const RTP_TICKS_PER_FRAME = 960;
/** Behind by more than this (an event-loop stall), the clock starts again instead of bursting to catch up. */
const MAX_LAG_MS = 200;
/** A chunk shorter than a frame waits this long for more before it plays, padded with silence (the end of an utterance). */
const PARTIAL_WAIT_MS = 60;

/**
 * A service's PCM published as an Opus track, as Cloudflare's local
 * (ingest) adapter does: the service sends Packets whose payload is PCM
 * (sequence number and timestamp are ignored, as Cloudflare documents), as
 * fast as it likes; they queue in a bounded buffer and play out on this
 * adapter's own 20 ms clock, one Opus frame each, silence when the buffer is
 * empty (so the track stays active and subscribers' jitter buffers steady).
 * A message that is not a Packet closes the adapter (1007); one over 32 KB
 * is closed by the socket's limit (1009). When the service closes the socket
 * what is buffered still plays, then the adapter closes: ingest does not
 * reconnect (Cloudflare's rule).
 */
export class PcmIngest extends EventEmitter<{ closed: [reason: string, failed: boolean] }> {
  private readonly encoder: Encoder;
  private readonly frameBytes: number;
  private readonly boundBytes: number;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private partialSince: number | undefined;
  private startedAt = performance.now();
  private framesSent = 0;
  private timestamp = Math.floor(Math.random() * 0xffffffff);
  private readonly timer: NodeJS.Timeout;
  private socketGone = false;
  private closedBy: string | undefined;
  private leftover: Buffer | undefined;
  /** PCM bytes the service sent. */
  bytesProcessed = 0;
  /** PCM bytes dropped because the buffer was full. */
  droppedBytes = 0;

  constructor(
    private readonly socket: WebSocket,
    private readonly publisher: PlainRtpPublisher,
    private readonly options: PcmIngestOptions,
  ) {
    super();
    const { format } = options;
    this.encoder = new Encoder({ sample_rate: format.sampleRate, channels: format.channels, application: 'audio' });
    this.frameBytes = pcmBytes(format, FRAME_MS);
    this.boundBytes = pcmBytes(format, options.bufferMs);
    socket.on('message', (data, isBinary) => this.receive(data as Buffer, isBinary));
    let oversize = false;
    // ws closes the socket itself (1009) on a message over its maxPayload (MAX_PACKET_BYTES).
    socket.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') oversize = true;
    });
    socket.on('close', () => {
      this.socketGone = true;
      if (oversize) this.close('the service sent a message over 32 KB', true);
      else if (this.queued === 0) this.close("the service's WebSocket closed");
    });
    publisher.producer.observer.once('close', () => this.close('the track was closed'));
    // Not setInterval's own cadence: each tick sends the frames due by the clock, so timer jitter does not change the rate.
    this.timer = setInterval(() => this.tick(), FRAME_MS / 2);
  }

  /** Milliseconds of audio waiting to play. */
  get bufferedMs(): number {
    return (this.queued / this.frameBytes) * FRAME_MS;
  }

  get closed(): boolean {
    return this.closedBy !== undefined;
  }

  close(reason = 'closed', failed = false): void {
    if (this.closedBy !== undefined) return;
    this.closedBy = reason;
    clearInterval(this.timer);
    if (!this.socketGone) this.socket.close(failed ? 1007 : 1000);
    this.queue.length = 0;
    this.queued = 0;
    this.publisher.close();
    this.emit('closed', reason, failed);
  }

  private receive(data: Buffer, isBinary: boolean): void {
    if (this.closedBy !== undefined) return;
    let payload: Uint8Array;
    try {
      if (!isBinary) throw new Error('text');
      payload = decodePacket(data).payload;
    } catch {
      return this.close('the service sent a message that is not a protobuf Packet', true);
    }
    this.bytesProcessed += payload.length;
    // Samples are whole (channels × 2 bytes); a chunk may split one, which the next completes.
    let pcm = Buffer.from(payload);
    if (this.leftover) pcm = Buffer.concat([this.leftover, pcm]);
    const sample = this.options.format.channels * 2;
    const whole = pcm.length - (pcm.length % sample);
    this.leftover = whole < pcm.length ? pcm.subarray(whole) : undefined;
    pcm = pcm.subarray(0, whole);
    const room = this.boundBytes - this.queued;
    if (pcm.length > room) {
      this.droppedBytes += pcm.length - Math.max(0, room);
      pcm = pcm.subarray(0, Math.max(0, room) - (Math.max(0, room) % sample));
    }
    if (pcm.length === 0) return;
    this.queue.push(pcm);
    this.queued += pcm.length;
  }

  private tick(): void {
    const now = performance.now();
    let due = Math.floor((now - this.startedAt) / FRAME_MS) - this.framesSent;
    if (due * FRAME_MS > MAX_LAG_MS) {
      this.startedAt = now - this.framesSent * FRAME_MS;
      due = 1;
    }
    for (; due > 0 && this.closedBy === undefined; due -= 1) this.sendFrame(now);
    if (this.socketGone && this.queued === 0) this.close("the service's WebSocket closed");
  }

  private sendFrame(now: number): void {
    const frame = this.nextFrame(now);
    const opus = this.encoder.encode(new Int16Array(frame.buffer, frame.byteOffset, frame.length / 2));
    // A copy: the binding answers a view of one buffer that its next encode overwrites.
    this.publisher.send(Buffer.from(opus), this.timestamp);
    this.timestamp = (this.timestamp + RTP_TICKS_PER_FRAME) >>> 0;
    this.framesSent += 1;
  }

  /** The next 20 ms of the buffer, or silence; a short tail waits a little for the rest of it. */
  private nextFrame(now: number): Buffer {
    if (this.queued < this.frameBytes) {
      if (this.queued === 0) return Buffer.alloc(this.frameBytes);
      this.partialSince ??= now;
      if (!this.socketGone && now - this.partialSince < PARTIAL_WAIT_MS) return Buffer.alloc(this.frameBytes);
    }
    this.partialSince = undefined;
    const frame = Buffer.alloc(this.frameBytes);
    let filled = 0;
    while (filled < this.frameBytes && this.queue.length > 0) {
      const head = this.queue[0]!;
      const take = Math.min(head.length, this.frameBytes - filled);
      head.copy(frame, filled, 0, take);
      filled += take;
      if (take === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(take);
    }
    this.queued -= filled;
    return frame;
  }
}
