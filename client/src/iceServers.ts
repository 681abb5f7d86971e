import { ICE_SERVERS } from './documents.js';
import type { Transport } from './transport.js';

interface IceServerData {
  urls: string[];
  username: string | null;
  credential: string | null;
}

/**
 * The TURN relays the deployment offers (query iceServers), with credentials
 * made for this client: added after the application's own iceServers, so a
 * client behind a firewall that blocks UDP or unknown ports still connects.
 */
export async function serverIceServers(transport: Transport, ttlSeconds?: number): Promise<RTCIceServer[]> {
  const { iceServers } = await transport.request<{ iceServers: { iceServers: IceServerData[] } }>(ICE_SERVERS, ttlSeconds ? { ttlSeconds } : {});
  return iceServers.iceServers.map((server) => ({
    urls: server.urls,
    ...(server.username !== null ? { username: server.username } : {}),
    ...(server.credential !== null ? { credential: server.credential } : {}),
  }));
}

/** The application's configuration with the deployment's relays after its own servers. */
export function withIceServers(configuration: RTCConfiguration, own: RTCIceServer[] | undefined, fromServer: RTCIceServer[]): RTCConfiguration {
  return { ...configuration, iceServers: [...(own ?? []), ...fromServer] };
}

/**
 * The PeerConnection's configuration for `connect`: the application's own,
 * with the deployment's relays unless `turn: false`; and, when there are
 * relays, how to fetch fresh credentials into a PeerConnection later.
 */
export async function relayConfiguration(
  transport: Transport,
  options: { rtcConfiguration?: RTCConfiguration; turn?: boolean | { ttlSeconds: number } },
): Promise<{ configuration: RTCConfiguration; renew: ((pc: RTCPeerConnection) => Promise<void>) | undefined }> {
  const own = options.rtcConfiguration ?? {};
  if (options.turn === false) return { configuration: own, renew: undefined };
  const ttl = typeof options.turn === 'object' ? options.turn.ttlSeconds : undefined;
  const relays = await serverIceServers(transport, ttl);
  return {
    configuration: withIceServers(own, own.iceServers, relays),
    renew:
      relays.length > 0
        ? async (pc) => pc.setConfiguration(withIceServers(pc.getConfiguration(), own.iceServers, await serverIceServers(transport, ttl)))
        : undefined,
  };
}
