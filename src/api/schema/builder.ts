import SchemaBuilder from '@pothos/core';
import type { ApiContext } from '../context.js';

/**
 * The Pothos builder every schema module adds to. Output fields are non-null
 * unless marked nullable and arguments optional unless marked required,
 * matching how the contract spells them.
 */
export const builder = new SchemaBuilder<{
  Context: ApiContext;
  Scalars: { DateTime: { Input: Date; Output: Date } };
  DefaultFieldNullability: false;
}>({
  defaultFieldNullability: false,
});

builder.scalarType('DateTime', {
  description: 'An instant in time, as an ISO 8601 string in UTC (e.g. 2026-11-23T21:45:00.000Z).',
  serialize: (value) => value.toISOString(),
  parseValue: (value) => {
    const date = new Date(String(value));
    if (Number.isNaN(date.getTime())) throw new TypeError('DateTime must be an ISO 8601 string');
    return date;
  },
});
