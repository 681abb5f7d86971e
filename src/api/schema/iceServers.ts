import { badRequest } from '../../errors.js';
import { forbidden } from '../../auth/GuardedSessions.js';
import { DEFAULT_TURN_CREDENTIAL_MAX_TTL_S } from '../../config/operations.js';
import type { IceServer, IceServerGrant } from '../../turn/iceServers.js';
import { builder } from './builder.js';

/** TURN for clients behind firewalls that block UDP or unknown ports: short-lived credentials for the configured relays. */

const IceServerRef = builder.objectRef<IceServer>('IceServer').implement({
  description: 'One entry of RTCConfiguration.iceServers: pass it to new RTCPeerConnection({ iceServers }) as it is.',
  fields: (t) => ({
    urls: t.exposeStringList('urls', { description: 'turn:, turns: or stun: URLs of one server.' }),
    username: t.string({ nullable: true, description: 'The TURN username (null for STUN).', resolve: (s) => s.username ?? null }),
    credential: t.string({ nullable: true, description: 'The TURN password (null for STUN).', resolve: (s) => s.credential ?? null }),
  }),
});

const IceServerGrantRef = builder.objectRef<IceServerGrant>('IceServerGrant').implement({
  description: 'ICE servers for one client, with the moment its TURN credentials stop working.',
  fields: (t) => ({
    iceServers: t.field({ type: [IceServerRef], description: 'Empty when the node has no TURN_URLS: host and ICE-TCP candidates only.', resolve: (g) => g.iceServers }),
    expiresAt: t.field({
      type: 'DateTime',
      nullable: true,
      description:
        'After this the TURN server refuses the credentials, for new relays and for the refreshes of running ones: ask again before an ICE restart, and ask for a ttl longer than the call. Null when there are none.',
      resolve: (g) => g.expiresAt,
    }),
  }),
});

builder.queryField('iceServers', (t) =>
  t.field({
    type: IceServerGrantRef,
    description:
      'ICE servers for the caller\'s RTCPeerConnection: the TURN relays of this deployment (TURN_URLS) with credentials made for the caller, valid for ttlSeconds (TURN_CREDENTIAL_TTL_S when not given). App backends may ask, and client tokens that may create, publish, pull or act on a session; FORBIDDEN otherwise. The SDK asks by itself.',
    args: {
      ttlSeconds: t.arg.int({ required: false, description: 'Lifetime of the credentials, from 60 up to TURN_CREDENTIAL_MAX_TTL_S (BAD_REQUEST beyond).' }),
    },
    resolve: (_root, { ttlSeconds }, { guard, iceServers }) => {
      if (guard.access.iceServers() !== 'allowed') throw forbidden('this token may not connect a session, so it gets no TURN credentials');
      // Checked with or without TURN configured: a call that is wrong is wrong on every deployment.
      const maxTtlS = iceServers.configured ? iceServers.maxTtlS : DEFAULT_TURN_CREDENTIAL_MAX_TTL_S;
      if (ttlSeconds != null && (ttlSeconds < 60 || ttlSeconds > maxTtlS)) {
        throw badRequest(`ttlSeconds must be from 60 to ${maxTtlS}`);
      }
      return iceServers.issue(guard.access.identity, ttlSeconds);
    },
  }),
);
