import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GuardedAdapters } from '../adapters/websocket/GuardedAdapters.js';
import type { GuardedSessions } from '../auth/GuardedSessions.js';
import type { GuardedRecordings } from '../recording/GuardedRecordings.js';
import type { Principal } from '../auth/principal.js';
import type { Outbox } from '../events/EventStream.js';
import type { SessionService } from '../session/SessionService.js';
import type { IceServerIssuer } from '../turn/iceServers.js';
import type { ForwardingContext } from './forwarding.js';

/** What every resolver gets: the caller's guarded view of the sessions, and the engine for reading fields. */
export interface ApiContext {
  /** Every operation a client asks for goes through this. */
  guard: GuardedSessions;
  /** For fields of objects the guard already handed out (a session's tracks). */
  sessions: SessionService;
  /** TURN credentials for the caller (query iceServers). */
  iceServers: IceServerIssuer;
  /** The node's WebSocket adapters, as this caller may use them. */
  adapters: GuardedAdapters;
  /** The node's recordings, as this caller may use them. */
  recordings: GuardedRecordings;
  /** In a cluster: how calls about sessions of other nodes reach them. */
  forwarding?: ForwardingContext;
}

/** What yoga gets from the server: the Node request, and for graphql-ws the principal the connection authenticated as. */
export interface ServerContext {
  req: IncomingMessage;
  res?: ServerResponse;
  principal?: Principal;
  /** graphql-ws: the credential the connection authenticated with (forwarded calls pass it on). */
  authorization?: string;
  /** graphql-ws: the connection's cap on queued subscription events. */
  outbox?: Outbox;
  /** graphql-ws: another node of the cluster forwards its client's subscription over this connection (counted there, not here). */
  internalConnection?: boolean;
}
