import OpusScript from 'opusscript';
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
 * Opus RTP to PCM. libopus compiled to WebAssembly (opusscript): no native
 * build step, which this project's machines could not fetch prebuilt, and
 * one decoder per tapped track in this process. Packets lost in the network
 * become silence of their length so that the PCM stays in time; packets
 * that arrive late or twice are dropped.
 */
export class OpusPcmDecoder {
  private readonly opus: OpusScript;
  private lastSequence: number | undefined;
  private lastSamples: number;

  /** libopus decodes to any of its rates and to mono or stereo itself: a 16 kHz mono service costs no resampling. */
  constructor(readonly format: PcmFormat = CLOUDFLARE_PCM) {
    this.opus = new OpusScript(format.sampleRate, format.channels, OpusScript.Application.AUDIO);
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
    const pcm = this.opus.decode(packet.payload);
    this.lastSamples = pcm.length / (this.format.channels * 2);
    out.push(Buffer.from(pcm));
    return out;
  }

  close(): void {
    this.opus.delete();
  }
}
