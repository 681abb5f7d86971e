/** bench:recording settings (bench/recording.ts describes them). */
import { tmpdir } from 'node:os';
import { list, number, setting, words } from '../lib/settings.js';

export const SECONDS = number('SECONDS', 10);
export const SETTLE_SECONDS = number('SETTLE_SECONDS', 2);
export const RECORDINGS_N = list('RECORDINGS_N', '1,4,8');
export const PARTS = words('PARTS', 'cam,mic,session');
/** Where the bench's RECORDINGS_DIR (a temporary directory, removed at the end) is made. */
export const RECORDINGS_BASE = setting('RECORDINGS_BASE', tmpdir());
