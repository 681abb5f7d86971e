import WebSocket from 'ws';
import { guardedLookup, isPrivateLiteral } from '../../webhooks/targets.js';

/** Why an adapter could not reach its service, in Cloudflare's words (its create call's item errors). */
export class AdapterConnectError extends Error {
  constructor(
    readonly errorCode: 'websocket_localhost_not_allowed' | 'websocket_handshake_failed' | 'websocket_connection_timeout' | 'invalid_params',
    message: string,
  ) {
    super(message);
  }
}

export interface ServiceSocketOptions {
  /** Loopback, private and link-local services allowed (development, or listed by the operator). */
  allowPrivate: boolean;
  handshakeTimeoutMs: number;
}

/**
 * Opens the WebSocket to a service: the SFU is the client, as with
 * Cloudflare. ws:// and wss:// only, no redirects followed; unless private
 * addresses are allowed, a URL naming one, or a name that resolves to one
 * when connecting (DNS answers included: the lookup is the webhooks' guarded
 * one), is refused, so a client cannot make the node connect into its own
 * network (SSRF).
 */
export async function connectService(endpoint: string, options: ServiceSocketOptions): Promise<WebSocket> {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new AdapterConnectError('invalid_params', 'endpoint must be a ws:// or wss:// URL');
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new AdapterConnectError('invalid_params', 'endpoint must be a ws:// or wss:// URL');
  if (!options.allowPrivate && isPrivateLiteral(url)) {
    throw new AdapterConnectError('websocket_localhost_not_allowed', 'the endpoint is a loopback, private or link-local address, which this server does not connect to (ADAPTER_ALLOW_PRIVATE_ENDPOINTS)');
  }
  const socket = new WebSocket(url, {
    handshakeTimeout: options.handshakeTimeoutMs,
    followRedirects: false,
    perMessageDeflate: false,
    ...(options.allowPrivate ? {} : { lookup: guardedLookup }),
  });
  return new Promise<WebSocket>((resolve, reject) => {
    const fail = (error: AdapterConnectError) => {
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.terminate();
      reject(error);
    };
    socket.once('open', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('unexpected-response', (_req, res) => fail(new AdapterConnectError('websocket_handshake_failed', `The handshake with the provided endpoint failed (HTTP ${res.statusCode}).`)));
    socket.once('error', (error: Error & { code?: string }) => {
      if (/timed out|timeout/i.test(error.message)) fail(new AdapterConnectError('websocket_connection_timeout', 'The handshake with the provided endpoint timed out.'));
      else if (error.code === 'EPRIVATETARGET') fail(new AdapterConnectError('websocket_localhost_not_allowed', 'the endpoint resolves to a loopback, private or link-local address, which this server does not connect to'));
      else fail(new AdapterConnectError('websocket_handshake_failed', 'The handshake with the provided endpoint failed.'));
    });
  });
}
