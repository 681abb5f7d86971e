import type { GraphQLSchema } from 'graphql';
import { builder } from './builder.js';
import './enums.js';
import './types.js';
import './inputs.js';
import './queries.js';
import './mutations.js';
import './events.js';
import './dataChannels.js';
import './iceServers.js';
import './stats.js';
import './adapters.js';
import './recordings.js';

let schema: GraphQLSchema | undefined;

/** The API schema, built once from the Pothos modules. */
export function buildSchema(): GraphQLSchema {
  schema ??= builder.toSchema({ sortSchema: false });
  return schema;
}
