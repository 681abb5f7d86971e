import { Decoder } from '@evan/opus';
import type { RtpPacket } from './rtp.js';

/** 48 kHz stereo s16le, interleaved: what WebRTC's Opus decodes to, and what Cloudflare's adapters send. */
export const PCM_RATE = 48_000;
export const PCM_CHANNELS = 2;

/** PCM s16le at one of the rates libopus decodes to natively (no resampler): 48 kHz, or 24 and 16 kHz for speech services. */
export interface PcmFormat {
  readonly sampleRate: 48_000 | 24_000 | 16_000;
  readonly channels: 1 | 2;
}

export const CLOUDFLARE_PCM: PcmFormat = { sampleRate: PCM_RATE, channels: PCM_CHANNELS };

/** Bytes of `ms` milliseconds of PCM in `format`. */
export const pcmBytes = (format: PcmFormat, ms: number) => Math.round((format.sampleRate * ms) / 1000) * format.channels * 2;

/** Lost packets filled with silence at most this long: a longer gap is a pause (the publisher muted), not loss. */
const MAX_FILLED_GAP = 5;

/**
 * Opus RTP to PCM with libopus through @evan/opus: prebuilt native bindings
 * inside the npm package (nothing fetched or built at install; WebAssembly
 * where no binary fits), decoders independent of each other. opusscript,
 * used first, corrupted its own heap with three instances or more (its PCM
 * views start at twice their allocated address): the SFU runs one decoder
 * per tapped track in one process. Packets lost in the network
 * become silence of their length so that the PCM stays in time; packets
 * that arrive late or twice are dropped.
 */
export class OpusPcmDecoder {
  private readonly opus: Decoder;
  private lastSequence: number | undefined;
  private lastSamples: number;

  /** libopus decodes to any of its rates and to mono or stereo itself: a 16 kHz mono service costs no resampling. */
  constructor(readonly format: PcmFormat = CLOUDFLARE_PCM) {
    this.opus = new Decoder({ sample_rate: format.sampleRate, channels: format.channels });
    this.lastSamples = format.sampleRate / 50;
  }

  /** PCM chunks for one RTP packet: silence for packets lost just before it, then its own samples. */
  decode(packet: RtpPacket): Buffer[] {
    const out: Buffer[] = [];
    if (this.lastSequence !== undefined) {
      const gap = (packet.sequenceNumber - this.lastSequence - 1 + 0x10000) & 0xffff;
      // More than half the sequence space ahead: it is behind (late or repeated).
      if (gap >= 0x8000) return out;
      for (let i = 0; i < Math.min(gap, MAX_FILLED_GAP); i += 1) out.push(Buffer.alloc(this.lastSamples * this.format.channels * 2));
    }
    this.lastSequence = packet.sequenceNumber;
    if (packet.payload.length === 0) return out;
    let pcm: Uint8Array;
    try {
      pcm = this.opus.decode(packet.payload);
    } catch {
      // A packet libopus cannot read (corrupt, or not Opus): its time passes as silence.
      out.push(Buffer.alloc(this.lastSamples * this.format.channels * 2));
      return out;
    }
    this.lastSamples = pcm.length / (this.format.channels * 2);
    // A copy: the binding answers a view of one buffer that its next decode overwrites.
    out.push(Buffer.from(pcm));
    return out;
  }

  close(): void {
    // Nothing to free by hand: the binding frees libopus's state when the decoder is collected.
  }
}
