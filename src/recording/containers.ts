/** A file format that holds the recorded codecs as they are (no transcoding). */
export interface Container {
  /** ffmpeg's muxer. */
  readonly format: 'webm' | 'matroska' | 'ogg';
  readonly extension: 'webm' | 'mkv' | 'ogg';
  readonly contentType: string;
}

const WEBM: Container = { format: 'webm', extension: 'webm', contentType: 'video/webm' };
const MATROSKA: Container = { format: 'matroska', extension: 'mkv', contentType: 'video/x-matroska' };
const OGG: Container = { format: 'ogg', extension: 'ogg', contentType: 'audio/ogg' };

/**
 * The container for a set of codecs (mime types such as video/VP8,
 * audio/opus): Ogg for Opus alone, WebM for VP8, VP9 or AV1 with or without
 * Opus, Matroska for H.264 or H.265 (WebM allows neither; MP4 would need
 * its index written at the end, which a crash loses). Matroska and Ogg are
 * written as a stream of clusters or pages, so a file cut short still
 * plays up to its last one.
 */
export function containerFor(mimeTypes: readonly string[]): Container {
  const codecs = mimeTypes.map((m) => m.toLowerCase());
  const video = codecs.filter((c) => c.startsWith('video/'));
  if (video.length === 0) return codecs.every((c) => c === 'audio/opus') ? OGG : MATROSKA;
  if (video.every((c) => c === 'video/vp8' || c === 'video/vp9' || c === 'video/av1') && codecs.every((c) => !c.startsWith('audio/') || c === 'audio/opus')) return WEBM;
  return MATROSKA;
}

/**
 * ffmpeg's output options for a container, written to survive a crash:
 * small clusters or pages, flushed as written.
 *
 * VP9 needs -copyinkf. A stream copy drops every packet until one is marked
 * a key frame, and ffmpeg's RTP depacketizer marks none for VP9 (it does for
 * VP8; H.264 goes through a parser that does). So a VP9 recording had an
 * empty video stream. What reaches ffmpeg already starts with a key frame:
 * a consumer that resumes forwards nothing of VP9 until one comes.
 */
export function muxerArgs(container: Container, path: string, mimeTypes: readonly string[]): string[] {
  const streaming = container.format === 'ogg' ? ['-page_duration', '100000'] : ['-live', '1', '-cluster_time_limit', '200'];
  const vp9 = mimeTypes.some((m) => m.toLowerCase() === 'video/vp9') ? ['-copyinkf'] : [];
  return ['-map', '0', ...vp9, '-c', 'copy', '-f', container.format, ...streaming, '-flush_packets', '1', '-y', path];
}
