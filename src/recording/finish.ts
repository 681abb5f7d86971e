import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { ffmpegPath } from '../mediaout/ffmpeg.js';
import type { Container } from './containers.js';

const run = promisify(execFile);
const ffprobePath = () => process.env.FFPROBE_PATH ?? 'ffprobe';

/** What a finished file holds, as ffprobe reads it. */
export interface ProbedFile {
  readonly size: number;
  /** Milliseconds, or null when the file holds no media. */
  readonly durationMs: number | null;
  readonly streams: readonly { codec: string; kind: string; width?: number; height?: number; startTimeMs: number | null }[];
}

/**
 * Finishes a file written as a stream (a recording stopped, or cut short by
 * a crash): ffmpeg copies it once more, which writes what a stream never
 * knew, its duration and its index (cues), so that players show the length
 * and seek. No transcoding; a file cut mid-cluster loses only that cluster.
 */
export async function finishFile(written: string, finished: string, container: Container): Promise<void> {
  await run(ffmpegPath(), ['-hide_banner', '-loglevel', 'error', '-i', written, '-map', '0', '-c', 'copy', '-f', container.format, '-y', finished], { timeout: 10 * 60_000 });
}

export async function probeFile(path: string): Promise<ProbedFile> {
  const { size } = await stat(path);
  const { stdout } = await run(ffprobePath(), ['-v', 'error', '-show_entries', 'format=duration:stream=codec_name,codec_type,width,height,start_time', '-of', 'json', path], { timeout: 60_000 });
  const probed = JSON.parse(stdout) as { format?: { duration?: string }; streams?: { codec_name: string; codec_type: string; width?: number; height?: number; start_time?: string }[] };
  const ms = (value: string | undefined) => (value === undefined || Number.isNaN(Number(value)) ? null : Math.round(Number(value) * 1000));
  return {
    size,
    durationMs: ms(probed.format?.duration),
    streams: (probed.streams ?? []).map((s) => ({ codec: s.codec_name, kind: s.codec_type, ...(s.width ? { width: s.width, height: s.height! } : {}), startTimeMs: ms(s.start_time) })),
  };
}
