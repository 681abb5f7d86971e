import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { printSchemaFile } from '../../src/api/schema/print.js';

// The comparison with the shared API contract (../shared, beside the
// repository on the team's machines) runs in .ci/run, not here: a clone on
// its own must pass npm test.
const committed = readFileSync(new URL('../../schema/schema.graphql', import.meta.url), 'utf8');

describe('the printed schema', () => {
  it('is what the code builds (run npm run schema after changing the API)', () => {
    expect(committed).toBe(printSchemaFile());
  });
});
