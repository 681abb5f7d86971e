import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { SetContextLink } from '@apollo/client/link/context';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { OperationTypeNode } from 'graphql';
import { createClient } from 'graphql-ws';
import { getToken, SFU_URL } from './config';

const http = new SetContextLink(async ({ headers }) => {
  const token = await getToken?.();
  return { headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) } };
}).concat(new HttpLink({ uri: `${SFU_URL}/graphql` }));

// Subscriptions (trackEvents) over graphql-ws on the same /graphql path. It
// reconnects by itself and subscribes again with the same variables.
const ws = new GraphQLWsLink(
  createClient({
    url: `${SFU_URL.replace(/^http/, 'ws')}/graphql`,
    connectionParams: async () => {
      const token = await getToken?.();
      return token ? { authorization: `Bearer ${token}` } : {};
    },
  }),
);

/**
 * The room's state lives in Apollo's normalized cache. Track has an `id`
 * ("<sessionId>:<name>"), so every query and event that carries a track
 * updates the one cache entry: an ACTIVE, INACTIVE, MUTED or UNMUTED event
 * changes the track in the snapshot's list with no code of ours.
 */
export const apollo = new ApolloClient({
  link: ApolloLink.split(({ operationType }) => operationType === OperationTypeNode.SUBSCRIPTION, ws, http),
  cache: new InMemoryCache(),
});
