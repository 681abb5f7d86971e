import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { loadFixture } from './openapiShape.js';

const fixture = loadFixture();

/** Answers invalid_params by design (Switchyard has no canReply to change): no success response to check. */
export const NOT_COVERED = ['PUT /apps/{appId}/sessions/{sessionId}/datachannels/update'];

/**
 * Which operations of the OpenAPI fixture each test/integration/cloudflare-api-*.test.ts
 * file shows answering their success status with a body the walker checked.
 * Each file states its own list and checks it equals its entry here;
 * expectEveryOperationCovered() checks that the entries together cover the
 * whole fixture but NOT_COVERED, and name exactly the files there are.
 */
export const COVERAGE_BY_FILE: Record<string, readonly string[]> = {
  'cloudflare-api-tracks.test.ts': [
    'POST /apps/{appId}/sessions/new',
    'GET /apps/{appId}/sessions/{sessionId}',
    'POST /apps/{appId}/sessions/{sessionId}/tracks/new',
    'PUT /apps/{appId}/sessions/{sessionId}/renegotiate',
    'PUT /apps/{appId}/sessions/{sessionId}/tracks/update',
    'PUT /apps/{appId}/sessions/{sessionId}/tracks/close',
  ],
  'cloudflare-api-data-channels.test.ts': [
    'POST /apps/{appId}/sessions/new',
    'GET /apps/{appId}/sessions/{sessionId}',
    'PUT /apps/{appId}/sessions/{sessionId}/renegotiate',
    'POST /apps/{appId}/sessions/{sessionId}/datachannels/establish',
    'POST /apps/{appId}/sessions/{sessionId}/datachannels/new',
    'PUT /apps/{appId}/sessions/{sessionId}/datachannels/close',
  ],
  'cloudflare-api-errors.test.ts': [
    'POST /apps/{appId}/sessions/new',
    'GET /apps/{appId}/sessions/{sessionId}',
    'POST /apps/{appId}/sessions/{sessionId}/tracks/new',
  ],
};

/**
 * The coverage test of one file: `covers` is its own list (and its entry of
 * COVERAGE_BY_FILE); each of those operations answered every success status
 * the document declares for it, as recorded in `checked` by CloudflareApi.
 */
export function expectCovered(fileName: string, covers: readonly string[], checked: ReadonlySet<string>): void {
  expect(covers).toEqual(COVERAGE_BY_FILE[fileName]);
  const expected = covers.flatMap((key) => {
    const operation = fixture.operations[key];
    if (!operation) throw new Error(`${key} is no operation of the document`);
    return Object.keys(operation.responses).map((status) => `${key} ${status}`);
  });
  expect(expected.filter((entry) => !checked.has(entry))).toEqual([]);
}

/** The files' lists together are every operation of the document but NOT_COVERED, and the files listed are the files there are. */
export function expectEveryOperationCovered(): void {
  const files = readdirSync(join(import.meta.dirname, '..', 'integration')).filter((name) => /^cloudflare-api-.*\.test\.ts$/.test(name));
  expect(Object.keys(COVERAGE_BY_FILE).sort()).toEqual(files.sort());
  const union = new Set(Object.values(COVERAGE_BY_FILE).flat());
  const expected = Object.keys(fixture.operations).filter((key) => !NOT_COVERED.includes(key));
  expect([...union].sort()).toEqual(expected.sort());
}
