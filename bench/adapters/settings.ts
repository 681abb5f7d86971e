/** bench:adapters settings (bench/adapters.ts describes them). */
import { list, number, words } from '../lib/settings.js';

export const SECONDS = number('SECONDS', 10);
export const SETTLE_SECONDS = number('SETTLE_SECONDS', 2);
export const EGRESS_N = list('EGRESS_N', '1,4,16');
export const INGEST_N = list('INGEST_N', '1,4,16');
export const JPEG_N = list('JPEG_N', '1,4');
export const ONSETS = number('ONSETS', 6);
export const PARTS = words('PARTS', 'egress,ingest,jpeg,latency');

/** Latency phases: silence, then the tone, in 20 ms Packets (ingest). */
export const QUIET_MS = 700;
export { TONE_MS } from '../lib/media.js';
