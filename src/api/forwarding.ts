import {
  defaultFieldResolver,
  getNamedType,
  isEnumType,
  isListType,
  isNonNullType,
  isScalarType,
  isSpecifiedScalarType,
  Kind,
  print,
  visit,
  type ASTNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLFieldResolver,
  type GraphQLOutputType,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  isObjectType,
} from 'graphql';
import type { Cluster } from '../cluster/Cluster.js';
import { INTERNAL_HEADER } from '../cluster/internalCalls.js';
import { ErrorCode, SwitchyardError, sessionNotFound, unavailable } from '../errors.js';
import type { Outbox } from '../events/EventStream.js';
import type { ApiContext } from './context.js';
import { forwardSubscription } from './forwardedSubscriptions.js';
import { placedCreateSession, placedResumeSession, placedStartRecording } from './placedSessions.js';

/**
 * Any node answers any call: a root field about a session that lives on
 * another node is sent to that node as a GraphQL request of its own (the same
 * field, arguments, selection and caller's credentials, marked with the
 * cluster secret), so the owner runs it exactly as if the client had called
 * it there: its access rules, its session queue, its errors and codes. The
 * answer comes back as a `Forwarded` value that every field of the schema
 * reads by response key instead of resolving it again.
 */

/** The session a routed root field is about, from its arguments. */
const ROUTED: Record<string, Record<string, (args: Record<string, any>) => unknown>> = {
  // WebSocket adapters live on the node of their session (an egress one's track, an ingest one's new session) and have ids of that node.
  // So do recordings: one runs on the node of its session unless that node is full (placedStartRecording); their ids name their node.
  Query: { session: (args) => args.id, webSocketAdapter: (args) => args.id, recording: (args) => args.id },
  Subscription: { sessionEvents: (args) => args.sessionId, sessionStats: (args) => args.sessionId, webSocketAdapterEvents: (args) => args.sessionId, recordingEvents: (args) => args.sessionId },
  Mutation: {
    startRecording: (args) => args.input?.sessionId,
    stopRecording: (args) => args.id,
    createWebSocketAdapter: (args) => (args.input?.location === 'remote' ? args.input.sessionId : undefined),
    closeWebSocketAdapter: (args) => args.id,
    ...Object.fromEntries(
      ['pushTracks', 'pullTracks', 'updateTracks', 'renegotiate', 'closeTracks', 'closeSession', 'rollbackOffer', 'setTrackMuted', 'publishDataChannels', 'subscribeDataChannels', 'closeDataChannels', 'establishDataChannels'].map((name) => [
        name,
        (args: Record<string, any>) => args.input?.sessionId,
      ]),
    ),
  },
};

/** What the owner answered, standing in for the object it resolved. */
export class Forwarded {
  constructor(readonly data: Record<string, unknown>) {}
}

/** How a forwarded call reaches the owner: the caller's credentials, and whether this request is itself forwarded. */
export interface ForwardingContext {
  cluster: Cluster;
  /** The caller's Authorization header (or the token its WebSocket connected with), passed on as it came. */
  authorization: string | null;
  /** This request came from another node: run it here, never forward again. */
  internal: boolean;
  /** The request's variables as the client sent them (info.variableValues holds them coerced to internal values). */
  variables: Record<string, unknown>;
  /** The caller's connection cap on queued events (forwarded subscriptions count against it too). */
  outbox?: Outbox | undefined;
}

/** How long a forwarded call may take (a pull may wait MEDIA_WAIT_MS for a publisher). */
const FORWARD_TIMEOUT_MS = 20_000;

/**
 * Makes a built schema cluster-aware, in place: routed root fields forward to
 * the session's node, and every object field reads Forwarded parents.
 */
export function enableForwarding(schema: GraphQLSchema): GraphQLSchema {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    const routed = ROUTED[type.name] ?? {};
    for (const field of Object.values(type.getFields())) {
      const resolve = field.resolve ?? defaultFieldResolver;
      const sessionOf = routed[field.name];
      if (sessionOf && field.subscribe) {
        // A subscription's events are resolved by `resolve` here; where they come from is `subscribe`.
        field.subscribe = routedSubscription(field.subscribe, sessionOf);
        field.resolve = forwardedReader(resolve);
      } else if (type.name === 'Mutation' && field.name === 'createSession') {
        field.resolve = placedCreateSession(resolve);
      } else if (type.name === 'Mutation' && field.name === 'resumeSession') {
        field.resolve = placedResumeSession(resolve);
      } else if (type.name === 'Mutation' && field.name === 'startRecording' && sessionOf) {
        field.resolve = placedStartRecording(routedResolver(resolve, sessionOf), resolve);
      } else {
        field.resolve = sessionOf ? routedResolver(resolve, sessionOf) : forwardedReader(resolve);
      }
    }
  }
  return schema;
}

function forwardedReader(resolve: GraphQLFieldResolver<unknown, ApiContext>): GraphQLFieldResolver<unknown, ApiContext> {
  return (parent, args, context, info) =>
    parent instanceof Forwarded ? fromJson(parent.data[String(info.path.key)], info.returnType) : resolve(parent, args, context, info);
}

/** The owner's URL when the session a routed field names lives on another node (and this request was not forwarded already). */
async function remoteOwner(context: ApiContext, sessionId: unknown): Promise<{ url: string; nodeId: string; forwarding: ForwardingContext } | null> {
  const forwarding = context.forwarding;
  if (!forwarding || forwarding.internal || typeof sessionId !== 'string') return null;
  // This node's own sessions are served here without asking Redis: they work while Redis is away.
  if (context.sessions.get(sessionId)) return null;
  const route = await forwarding.cluster.route(sessionId);
  return route.kind === 'remote' ? { url: route.url, nodeId: route.nodeId, forwarding } : null;
}

function routedResolver(
  resolve: GraphQLFieldResolver<unknown, ApiContext>,
  sessionOf: (args: Record<string, any>) => unknown,
): GraphQLFieldResolver<unknown, ApiContext> {
  return async (parent, args, context, info) => {
    const owner = await remoteOwner(context, sessionOf(args));
    if (!owner) return resolve(parent, args, context, info);
    const sessionId = String(sessionOf(args));
    try {
      return await forward(owner.url, owner.forwarding, info, { session: sessionId });
    } catch (error) {
      // The heartbeats this node holds are up to a beat old: a node that just died may still be named there. The directory says whether it is gone.
      if (!(error instanceof SwitchyardError) || error.code !== ErrorCode.UNAVAILABLE) throw error;
      const fresh = await owner.forwarding.cluster.route(sessionId, { fresh: true });
      if (fresh.kind === 'unknown') throw sessionNotFound(sessionId);
      // The session moved off a node that died (resumeSession): it lives where the directory says now.
      if (fresh.kind === 'local') return resolve(parent, args, context, info);
      if (fresh.nodeId !== owner.nodeId) return forward(fresh.url, owner.forwarding, info, { session: sessionId });
      throw error;
    }
  };
}

function routedSubscription(
  subscribe: GraphQLFieldResolver<unknown, ApiContext>,
  sessionOf: (args: Record<string, any>) => unknown,
): GraphQLFieldResolver<unknown, ApiContext> {
  return async (parent, args, context, info) => {
    const owner = await remoteOwner(context, sessionOf(args));
    if (!owner) return subscribe(parent, args, context, info);
    return forwardSubscription({
      ownerUrl: owner.url,
      query: documentFor(info),
      variables: owner.forwarding.variables,
      authorization: owner.forwarding.authorization,
      internalToken: owner.forwarding.cluster.internalToken,
      outbox: owner.forwarding.outbox,
      stillThere: () => owner.forwarding.cluster.nodes.alive(owner.nodeId),
      logger: owner.forwarding.cluster.logger,
      // The event resolves as a Forwarded root: the field reads its own response key from it.
      toEvent: (data) => new Forwarded(data),
      snapshots: info.fieldName === 'sessionStats',
    });
  };
}

/** Sends this one root field to the node at `url`; returns its value as this node's resolver would have. */
export async function forward(url: string, forwarding: ForwardingContext, info: GraphQLResolveInfo, about: { session: string } | { placing: true }): Promise<unknown> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json', [INTERNAL_HEADER]: forwarding.cluster.internalToken };
  if (forwarding.authorization) headers.authorization = forwarding.authorization;
  let body: { data?: Record<string, unknown> | null; errors?: { message: string; path?: (string | number)[]; extensions?: { code?: string } & Record<string, unknown> }[] };
  try {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ query: documentFor(info), variables: forwarding.variables }),
      signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
    });
    body = (await response.json()) as typeof body;
  } catch (error) {
    // fetch's own words (and its cause's) can name the owner's internal address: they go to the log, with the owner's URL.
    forwarding.cluster.logger.warn({ err: error, node: url, ...about }, 'another node did not answer a forwarded call');
    throw unavailable('session' in about ? `the node that holds session ${about.session} did not answer; retry shortly` : 'the node chosen for the new session did not answer; retry shortly');
  }
  const key = String(info.path.key);
  const error = body.errors?.find((e) => !e.path || e.path[0] === key) ?? (body.data?.[key] === undefined ? body.errors?.[0] : undefined);
  if (error) {
    const { code, ...more } = error.extensions ?? {};
    // The owner's other extensions (a WebSocket adapter's adapterErrorCode) reach the caller as the owner gave them.
    const extensions = Object.fromEntries(Object.entries(more).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
    throw new SwitchyardError(code && code in ErrorCode ? (code as ErrorCode) : ErrorCode.INTERNAL, error.message, { extensions });
  }
  return fromJson(body.data?.[key], info.returnType);
}

/** A document with only this root field: its selection, the fragments and variables it uses. */
function documentFor(info: GraphQLResolveInfo): string {
  const variables = new Set<string>();
  const fragments = new Map<string, FragmentDefinitionNode>();
  const collect = (node: ASTNode) =>
    visit(node, {
      Variable: (variable) => void variables.add(variable.name.value),
      FragmentSpread: (spread) => {
        const name = spread.name.value;
        const fragment = info.fragments[name];
        if (fragment && !fragments.has(name)) {
          fragments.set(name, fragment);
          collect(fragment);
        }
      },
    });
  for (const node of info.fieldNodes) collect(node);
  const document: DocumentNode = {
    kind: Kind.DOCUMENT,
    definitions: [
      {
        kind: Kind.OPERATION_DEFINITION,
        operation: info.operation.operation,
        variableDefinitions: (info.operation.variableDefinitions ?? []).filter((d) => variables.has(d.variable.name.value)),
        selectionSet: { kind: Kind.SELECTION_SET, selections: info.fieldNodes },
      },
      ...fragments.values(),
    ],
  };
  return print(document);
}

/** JSON from another node as this node's resolvers would return it: objects stay Forwarded, enums and custom scalars are parsed back. */
function fromJson(value: unknown, type: GraphQLOutputType): unknown {
  if (value === null || value === undefined) return value;
  const inner = isNonNullType(type) ? type.ofType : type;
  if (isListType(inner)) return (value as unknown[]).map((item) => fromJson(item, inner.ofType));
  const named = getNamedType(inner);
  if (isEnumType(named)) return named.getValue(String(value))?.value ?? value;
  if (isScalarType(named)) return isSpecifiedScalarType(named) ? value : named.parseValue(value);
  return new Forwarded(value as Record<string, unknown>);
}
