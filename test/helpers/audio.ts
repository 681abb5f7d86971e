/**
 * The strongest frequency of a mono signal between `from` and `to` Hz in
 * steps of `step` (Goertzel's algorithm, one bin per candidate): enough to
 * tell a 440 Hz tone from an 880 Hz one to within a few Hz.
 */
export function dominantFrequency(samples: Float64Array | number[], rate: number, from = 100, to = 2000, step = 1): number {
  let best = { frequency: 0, power: -1 };
  for (let f = from; f <= to; f += step) {
    const coefficient = 2 * Math.cos((2 * Math.PI * f) / rate);
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < samples.length; i += 1) {
      const s0 = (samples[i] as number) + coefficient * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    const power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
    if (power > best.power) best = { frequency: f, power };
  }
  return best.frequency;
}

/** The left channel of interleaved stereo s16le PCM, as numbers. */
export function leftChannel(pcm: Buffer): Float64Array {
  const out = new Float64Array(pcm.length / 4);
  for (let i = 0; i < out.length; i += 1) out[i] = pcm.readInt16LE(i * 4);
  return out;
}
