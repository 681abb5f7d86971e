import WebSocket from 'ws';
import type { EndpointPolicy } from '../endpointPolicy.js';

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
  /** Which addresses the node may connect to (loopback, private and link-local ones only when allowed or listed). */
  policy: EndpointPolicy;
  handshakeTimeoutMs: number;
  /** Headers of the upgrade request, for the service's credentials (not Cloudflare's: it sends none). */
  headers?: Readonly<Record<string, string>> | undefined;
  /** Subprotocols offered in Sec-WebSocket-Protocol (not Cloudflare's either). */
  subprotocols?: readonly string[] | undefined;
  /** Largest message taken from the service (ingest: 32 KB); larger ones close the socket with 1009. */
  maxPayload?: number | undefined;
}

/**
 * Opens the WebSocket to a service: the SFU is the client, as with
 * Cloudflare. ws:// and wss:// only, no redirects followed; an address the
 * policy refuses, in the URL or in the DNS answers when connecting, is
 * refused, so a client cannot make the node connect into its own network.
 */
export async function connectService(endpoint: string, options: ServiceSocketOptions): Promise<WebSocket> {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new AdapterConnectError('invalid_params', 'endpoint must be a ws:// or wss:// URL');
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new AdapterConnectError('invalid_params', 'endpoint must be a ws:// or wss:// URL');
  if (options.policy.refusesLiteral(url)) {
    throw new AdapterConnectError('websocket_localhost_not_allowed', 'the endpoint is a loopback, private or link-local address, which this server does not connect to (ADAPTER_ALLOW_PRIVATE_ENDPOINTS, ADAPTER_PRIVATE_NETWORKS)');
  }
  const lookup = options.policy.lookup;
  const socket = new WebSocket(url, options.subprotocols ? [...options.subprotocols] : undefined, {
    handshakeTimeout: options.handshakeTimeoutMs,
    ...(options.headers ? { headers: { ...options.headers } } : {}),
    ...(options.maxPayload ? { maxPayload: options.maxPayload } : {}),
    followRedirects: false,
    perMessageDeflate: false,
    ...(lookup ? { lookup } : {}),
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
      socket.removeAllListeners('unexpected-response');
      // Until its owner listens: an error with no listener (a message over maxPayload) would end the process.
      socket.on('error', () => undefined);
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
