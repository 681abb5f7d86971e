import { readFileSync } from 'node:fs';
import { buildSchema, parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { ROOM_EVENTS, ROOM_SNAPSHOT } from '../../examples/react-room/src/documents.js';

/**
 * The React room example's GraphQL documents (examples/react-room) against
 * the schema as printed in schema/schema.graphql: a schema change that
 * breaks the example fails here, before its browser test (test/e2e/react-room.test.ts).
 */
const schema = buildSchema(readFileSync(new URL('../../schema/schema.graphql', import.meta.url), 'utf8'));

describe("the React room example's documents", () => {
  it('are valid against the server\'s schema', () => {
    const problems = Object.entries({ ROOM_SNAPSHOT, ROOM_EVENTS }).flatMap(([name, document]) => validate(schema, parse(document)).map((e) => `${name}: ${e.message}`));
    expect(problems).toEqual([]);
  });

  it('select Track.id, the key Apollo normalizes tracks by', () => {
    // Without it every event would leave a second copy of its track in the cache, and status changes would not reach the list.
    for (const document of [ROOM_SNAPSHOT, ROOM_EVENTS]) expect(document).toMatch(/tracks?\s*\{\s*id\b/);
  });
});
