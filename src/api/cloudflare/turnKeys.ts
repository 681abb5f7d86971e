import type { ExecuteOperation } from '../http/inProcessGraphQL.js';
import { InvalidRequest, invalidParams } from './errors.js';
import { optionalInteger, type Json } from './requests.js';
import { OperationFailed, type Answer } from './tracks.js';

/**
 * Cloudflare Realtime TURN's credential API, answered from Switchyard's own
 * TURN settings (docs/turn.md): POST /v1/turn/keys/{keyId}/credentials/
 * generate-ice-servers, as an app backend (or PartyTracks' server proxy)
 * calls it on rtc.live.cloudflare.com. A TURN key is an app: the key id is
 * the app id and its API token is the app's secret (a client token of the
 * app with a grant to connect works too), checked by the router as for the
 * app's sessions. The credentials come from the GraphQL iceServers query,
 * so they follow the same rules (who may ask, ttl bounds, coturn username)
 * as every other way of getting them.
 */
export const TURN_KEYS_PREFIX = '/v1/turn/';

const PATH = /^\/v1\/turn\/keys\/([^/]+)\/credentials\/(?:(generate-ice-servers|generate)|([^/]+)\/revoke)$/;

interface TurnKeyContext {
  execute: ExecuteOperation;
  authorization: string | undefined;
  body: Json;
}

/** A TURN key operation, found by method and path; the router authenticates the key before it runs. */
export interface TurnKeyCall {
  /** Still percent-encoded, as the path has it. */
  keyId: string;
  run(context: TurnKeyContext): Promise<Answer>;
}

export function turnKeyCall(method: string | undefined, pathname: string): TurnKeyCall {
  const match = PATH.exec(pathname);
  if (!match || method !== 'POST') throw new InvalidRequest(404, 'not_found', `no such operation: ${method} ${pathname}`);
  const [, keyId, generate] = match as unknown as [string, string, 'generate-ice-servers' | 'generate' | undefined];
  if (generate) return { keyId, run: (context) => generateCredentials(context, generate) };
  return {
    keyId,
    run: async () => {
      // Answering 204 would tell the caller that a leaked credential is dead when it is not.
      throw invalidParams(
        'TURN credentials cannot be revoked one by one here: the TURN server checks them with the secret it shares with Switchyard, and accepts them until their expiry. Ask for a ttl no longer than needed; changing TURN_SECRET ends all of them.',
      );
    },
  };
}

interface GraphQLIceServer {
  urls: string[];
  username: string | null;
  credential: string | null;
}

const ICE_SERVERS = 'query TurnKeyCredentials($ttl: Int) { iceServers(ttlSeconds: $ttl) { iceServers { urls username credential } } }';
const GRAPHQL_INT_MAX = 2_147_483_647;

/**
 * generate-ice-servers: 201 { iceServers: [{ urls } (STUN), { urls, username, credential } (TURN)] }.
 * generate, the older form: 201 { iceServers: { urls (STUN and TURN), username, credential } }.
 */
async function generateCredentials(context: TurnKeyContext, form: 'generate-ice-servers' | 'generate'): Promise<Answer> {
  const ttl = optionalInteger(context.body, 'ttl');
  // Beyond GraphQL's Int is beyond the largest ttl too: clamped, so that the query's own bounds check answers it.
  const ttlSeconds = ttl === undefined ? null : Math.max(-GRAPHQL_INT_MAX, Math.min(GRAPHQL_INT_MAX, ttl));
  const result = await context.execute<{ iceServers: { iceServers: GraphQLIceServer[] } }>(ICE_SERVERS, { ttl: ttlSeconds }, context.authorization);
  // GraphQL names the argument ttlSeconds; this API names the field ttl.
  if (result.error) throw new OperationFailed(result.error.code, result.error.message.replace(/^ttlSeconds\b/, 'ttl'));
  const servers = result.data.iceServers.iceServers;
  const relay = servers.find((server) => server.username !== null && server.credential !== null);
  if (!relay) {
    throw new InvalidRequest(404, 'not_found', 'this deployment hands out no TURN relays: its operator sets TURN_URLS and TURN_SECRET (docs/turn.md)');
  }
  if (form === 'generate') {
    return { status: 201, body: { iceServers: { urls: servers.flatMap((server) => server.urls), username: relay.username, credential: relay.credential } } };
  }
  const iceServers = servers.map((server) =>
    server.username !== null && server.credential !== null ? { urls: server.urls, username: server.username, credential: server.credential } : { urls: server.urls },
  );
  return { status: 201, body: { iceServers } };
}
