import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExecutionArgs } from 'graphql';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { createYoga } from 'graphql-yoga';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Logger } from '../logger.js';
import type { ApiContext } from './context.js';
import { armorPlugins } from './armor.js';
import { createErrorMasker, useContractErrorCodes } from './errors.js';
import { buildSchema } from './schema/index.js';

export const GRAPHQL_PATH = '/graphql';

const GRAPHIQL_DEFAULT_QUERY = `# Switchyard: a WebRTC SFU whose signaling is this GraphQL API.
# The book icon on the left opens the schema's documentation.
#
# A session is one RTCPeerConnection: createSession, then pushTracks with the
# client's offer, pullTracks (the SFU offers) and renegotiate with the answer.
#
# Published tracks, filtered by tag:
query Tracks {
  tracks(filter: { tags: ["room:lobby"] }) {
    sessionId
    name
    kind
    status
    tags
  }
}
`;

export interface ApiServerOptions {
  context: ApiContext;
  logger: Logger;
  /** /healthz answers 200 while this holds. */
  healthy: () => boolean;
}

export interface ApiServer {
  readonly http: Server;
  listen(port: number, host: string): Promise<AddressInfo>;
  close(): Promise<void>;
}

/**
 * The HTTP face of the SFU: GraphQL over POST and GET at /graphql (GraphiQL
 * for browsers), graphql-ws subscriptions on the same path, and /healthz.
 */
export function createApiServer(options: ApiServerOptions): ApiServer {
  const { logger, context } = options;
  const yoga = createYoga<{ req: IncomingMessage; res: ServerResponse }, ApiContext>({
    schema: buildSchema(),
    graphqlEndpoint: GRAPHQL_PATH,
    context: () => context,
    graphiql: { title: 'Switchyard', subscriptionsProtocol: 'WS', defaultQuery: GRAPHIQL_DEFAULT_QUERY },
    // The self-contained GraphiQL: yoga's default page loads its scripts from a CDN.
    renderGraphiQL,
    landingPage: false,
    maskedErrors: { maskError: createErrorMasker(logger) },
    plugins: [...armorPlugins(), useContractErrorCodes()],
    // yoga logs every error a client caused at error level; the masker logs
    // the unexpected ones itself, so yoga's own lines are debug output.
    logging: {
      debug: (...args) => logger.debug({ yoga: args }),
      info: (...args) => logger.debug({ yoga: args }),
      warn: (...args) => logger.warn({ yoga: args }),
      error: (...args) => logger.debug({ yoga: args }),
    },
  });

  const http = createServer((req, res) => {
    if (req.url === '/healthz' || req.url?.startsWith('/healthz?')) {
      const ok = options.healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: ok ? 'ok' : 'unavailable' }));
      return;
    }
    void yoga.handle(req, res);
  });

  type Enveloped = ReturnType<typeof yoga.getEnveloped>;
  const wss = new WebSocketServer({ server: http, path: GRAPHQL_PATH });
  const wsServer = useServer(
    {
      // onSubscribe passes yoga's enveloped execute/subscribe through rootValue.
      execute: (args: ExecutionArgs) => (args.rootValue as Enveloped).execute(args),
      subscribe: (args: ExecutionArgs) => (args.rootValue as Enveloped).subscribe(args),
      onSubscribe: async (ctx, _id, payload) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
        });
        const args = {
          schema,
          operationName: payload.operationName,
          document: parse(payload.query),
          variableValues: payload.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        if (errors.length) return errors;
        return args;
      },
    },
    wss,
  );

  return {
    http,
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        http.once('error', reject);
        http.listen(port, host, () => {
          http.off('error', reject);
          resolve(http.address() as AddressInfo);
        });
      }),
    close: async () => {
      await wsServer.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
