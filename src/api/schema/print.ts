import { lexicographicSortSchema, printSchema } from 'graphql';
import { buildSchema } from './index.js';

/** The SDL committed as schema/schema.graphql: sorted, so diffs show real changes only. */
export function printSchemaFile(): string {
  return `${printSchema(lexicographicSortSchema(buildSchema()))}\n`;
}
