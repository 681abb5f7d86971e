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
