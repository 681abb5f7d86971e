import { badRequest } from '../../errors.js';
import { CLOUDFLARE_PCM, type PcmFormat } from '../../mediaout/OpusPcmDecoder.js';
import type { JpegOptions } from '../../mediaout/JpegFrames.js';

/** How the SFU connects to the service: Cloudflare sends neither, Switchyard may (the service's credentials). */
export interface ServiceConnection {
  readonly headers?: Readonly<Record<string, string>> | undefined;
  readonly subprotocols?: readonly string[] | undefined;
}

/** location "local": a new session publishes `trackName`, fed with the PCM the service sends. */
export interface IngestRequest extends ServiceConnection {
  readonly location: 'local';
  readonly trackName: string;
  readonly endpoint: string;
  readonly format: PcmFormat;
  readonly tags: readonly string[];
}

/** location "remote": the track (sessionId, trackName) goes to the service as PCM or JPEG. */
export interface EgressRequest extends ServiceConnection {
  readonly location: 'remote';
  readonly sessionId: string;
  readonly trackName: string;
  readonly endpoint: string;
  readonly codec: 'pcm' | 'jpeg';
  readonly format: PcmFormat;
  readonly jpeg: JpegOptions;
}

export type AdapterRequest = IngestRequest | EgressRequest;

const MAX_HEADERS = 16;
const MAX_HEADER_BYTES = 4096;
const MAX_ENDPOINT_LENGTH = 2048;
/** Headers the WebSocket handshake itself sets: a request may not replace them. */
const RESERVED_HEADERS = /^(host|connection|upgrade|content-length|transfer-encoding|sec-websocket-.*)$/i;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Checks what every adapter request shares; throws BAD_REQUEST (Cloudflare's invalid_params) with what is wrong. */
export function checkConnection(endpoint: string, connection: ServiceConnection): void {
  if (endpoint.length === 0 || endpoint.length > MAX_ENDPOINT_LENGTH) throw badRequest(`endpoint must be a ws:// or wss:// URL of at most ${MAX_ENDPOINT_LENGTH} characters`);
  if (!/^wss?:\/\//i.test(endpoint)) throw badRequest('endpoint must be a ws:// or wss:// URL');
  try {
    new URL(endpoint);
  } catch {
    throw badRequest('endpoint must be a ws:// or wss:// URL');
  }
  const headers = Object.entries(connection.headers ?? {});
  if (headers.length > MAX_HEADERS) throw badRequest(`at most ${MAX_HEADERS} headers`);
  let bytes = 0;
  for (const [name, value] of headers) {
    if (!TOKEN.test(name)) throw badRequest(`header name ${JSON.stringify(name.slice(0, 64))} is not a valid HTTP header name`);
    if (RESERVED_HEADERS.test(name)) throw badRequest(`header ${name} is set by the WebSocket handshake itself`);
    if (typeof value !== 'string' || /[\r\n\0]/.test(value)) throw badRequest(`header ${name} must be a string without line breaks`);
    bytes += name.length + value.length;
  }
  if (bytes > MAX_HEADER_BYTES) throw badRequest(`headers may carry at most ${MAX_HEADER_BYTES} bytes`);
  const protocols = connection.subprotocols ?? [];
  if (protocols.length > 8 || protocols.some((p) => !TOKEN.test(p) || p.length > 128)) throw badRequest('subprotocols must be at most 8 tokens of up to 128 characters');
}

/** PCM format from the optional sampleRate/channels fields: Cloudflare's 48 kHz stereo unless asked. */
export function pcmFormat(sampleRate: number | null | undefined, channels: number | null | undefined): PcmFormat {
  const rate = sampleRate ?? CLOUDFLARE_PCM.sampleRate;
  const count = channels ?? CLOUDFLARE_PCM.channels;
  if (rate !== 48_000 && rate !== 24_000 && rate !== 16_000) throw badRequest('sampleRate must be 48000, 24000 or 16000');
  if (count !== 1 && count !== 2) throw badRequest('channels must be 1 or 2');
  return { sampleRate: rate, channels: count };
}

/** JPEG options: `frameRate` frames per second (1 unless asked, at most `maxFrameRate`), an optional size. */
export function jpegOptions(frameRate: number | null | undefined, width: number | null | undefined, height: number | null | undefined, maxFrameRate: number): JpegOptions {
  const rate = frameRate ?? 1;
  if (!(rate > 0 && rate <= maxFrameRate)) throw badRequest(`frameRate must be above 0 and at most ${maxFrameRate}`);
  for (const [name, value] of [['width', width], ['height', height]] as const) {
    if (value != null && (!Number.isInteger(value) || value < 16 || value > 3840 || value % 2 !== 0)) throw badRequest(`${name} must be an even number of pixels from 16 to 3840`);
  }
  return { frameRate: rate, width: width ?? undefined, height: height ?? undefined };
}
