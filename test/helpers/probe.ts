import { execFileSync } from 'node:child_process';

/** What ffprobe (Debian's ffmpeg) reads in a media file: its duration, and each stream's codec, size, start and frame count. */
export function probe(path: string) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'format=duration,format_name:stream=codec_name,codec_type,width,height,start_time,nb_read_frames', '-of', 'json', path]).toString();
  const parsed = JSON.parse(out) as { format: { duration?: string; format_name: string }; streams: { codec_name: string; codec_type: string; width?: number; height?: number; start_time?: string; nb_read_frames?: string }[] };
  return {
    format: parsed.format.format_name,
    duration: Number(parsed.format.duration),
    streams: parsed.streams.map((s) => ({ codec: s.codec_name, kind: s.codec_type, width: s.width, height: s.height, start: Number(s.start_time), frames: Number(s.nb_read_frames) })),
  };
}

/** Whether the first video packet of a file is a key frame (ffprobe's packet flags). */
export function firstVideoPacketIsKey(path: string): boolean {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=flags', '-of', 'csv=p=0', '-read_intervals', '%+#1', path]).toString().trim();
  return out.split('\n')[0]!.startsWith('K');
}
