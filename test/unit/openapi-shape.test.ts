import { describe, expect, it } from 'vitest';
import { checkResponse, loadFixture, operationOf, type AllowedDifference } from '../helpers/openapiShape.js';

/**
 * The walker the Cloudflare API tests check every response with
 * (test/helpers/openapiShape.ts): it must find each kind of mismatch, or the
 * integration tests' "no problems" would prove nothing.
 */
const fixture = loadFixture();
const TRACKS_NEW = { method: 'POST', path: '/v1/apps/a/sessions/s1/tracks/new' };

describe('the OpenAPI shape walker', () => {
  it('maps request paths to the document\'s operations, sessions/new before sessions/{sessionId}', () => {
    expect(operationOf(fixture, 'POST', '/v1/apps/a/sessions/new?correlationId=x')).toBe('POST /apps/{appId}/sessions/new');
    expect(operationOf(fixture, 'GET', '/v1/apps/a/sessions/abc')).toBe('GET /apps/{appId}/sessions/{sessionId}');
    expect(operationOf(fixture, 'PUT', '/v1/apps/a/sessions/abc/tracks/close')).toBe('PUT /apps/{appId}/sessions/{sessionId}/tracks/close');
    expect(operationOf(fixture, 'POST', '/v1/apps/a/sessions/abc/tracks/close')).toBeUndefined();
    expect(operationOf(fixture, 'GET', '/v1/apps/a/nothing')).toBeUndefined();
    // Every operation of the fixture is reachable by some path.
    for (const key of Object.keys(fixture.operations)) {
      const [method, template] = key.split(' ') as [string, string];
      expect(operationOf(fixture, method, `/v1${template.replace('{appId}', 'app').replace('{sessionId}', 'sess')}`)).toBe(key);
    }
  });

  it('accepts a body as the document writes it', () => {
    const body = {
      requiresImmediateRenegotiation: true,
      sessionDescription: { type: 'offer', sdp: 'v=0' },
      tracks: [{ sessionId: 's0', trackName: 'cam', mid: '1' }, { sessionId: 's0', trackName: 'gone', errorCode: 'not_found_track_error', errorDescription: 'no' }],
    };
    expect(checkResponse(fixture, TRACKS_NEW, 200, body).problems).toEqual([]);
  });

  it('finds nulls, wrong types, unknown properties, enum values and missing required properties', () => {
    const body = {
      requiresImmediateRenegotiation: 'no',
      sessionDescription: { type: 'pranswer', sdp: 1 },
      tracks: [{ mid: null, trackName: 'cam', location: 'elsewhere', extra: true }],
      surprise: {},
    };
    expect(checkResponse(fixture, TRACKS_NEW, 200, body).problems).toEqual([
      '$.requiresImmediateRenegotiation: "no" is not a boolean',
      '$.sessionDescription.type: "pranswer" is not one of ["answer","offer"]',
      '$.sessionDescription.sdp: number 1 is not a string',
      '$.tracks[0].mid: null is not a string',
      '$.tracks[0].location: "elsewhere" is not one of ["local","remote"]',
      '$.tracks[0]: property "extra" is not in the document\'s schema',
      '$: property "surprise" is not in the document\'s schema',
    ]);
    expect(checkResponse(fixture, { method: 'POST', path: '/v1/apps/a/sessions/new' }, 201, {}).problems).toEqual(['$: required property "sessionId" is missing']);
    expect(checkResponse(fixture, { method: 'PUT', path: '/v1/apps/a/sessions/s/tracks/close' }, 200, { tracks: [{ errorCode: 'close_track_error' }] }).problems).toEqual([
      '$.tracks[0]: required property "mid" is missing',
    ]);
    expect(checkResponse(fixture, { method: 'GET', path: '/v1/apps/a/sessions/s' }, 200, { dataChannels: [{ id: 1.5, status: 'waiting' }] }).problems).toEqual([
      '$.dataChannels[0].id: number 1.5 is not an integer',
      '$.dataChannels[0].status: "waiting" is not one of ["active","inactive","initializing"]',
    ]);
  });

  it('checks error statuses against ErrorResponse and refuses undeclared success statuses', () => {
    expect(checkResponse(fixture, TRACKS_NEW, 404, { errorCode: 'session_error', errorDescription: 'gone' }).problems).toEqual([]);
    expect(checkResponse(fixture, { method: 'GET', path: '/v1/nowhere' }, 404, { errorCode: 'not_found' }).problems).toEqual([
      '$: required property "errorDescription" is missing',
    ]);
    expect(() => checkResponse(fixture, TRACKS_NEW, 201, {})).toThrow(/declares no 201 response/);
  });

  it('lets an allowed difference through only at its operation, status and path, and checks it against its own schema', () => {
    const allowed: AllowedDifference[] = [
      { operation: 'PUT /apps/{appId}/sessions/{sessionId}/tracks/update', status: 200, path: '$.sessionDescription', schema: { $ref: '#/schemas/SessionDescription' }, why: 'test' },
    ];
    const update = { method: 'PUT', path: '/v1/apps/a/sessions/s/tracks/update' };
    const good = checkResponse(fixture, update, 200, { sessionDescription: { type: 'offer', sdp: 'v=0' } }, allowed);
    expect(good).toMatchObject({ problems: [], used: ['$.sessionDescription'] });
    expect(checkResponse(fixture, update, 200, { sessionDescription: { type: 'bad' } }, allowed).problems).toEqual([
      '$.sessionDescription.type: "bad" is not one of ["answer","offer"]',
    ]);
    expect(checkResponse(fixture, update, 200, { tracks: [{ sessionDescription: {} }] }, allowed).problems).toEqual([
      '$.tracks[0]: property "sessionDescription" is not in the document\'s schema',
    ]);
    expect(checkResponse(fixture, { method: 'PUT', path: '/v1/apps/a/sessions/s/datachannels/update' }, 200, { sessionDescription: {} }, allowed).problems).toEqual([
      '$: property "sessionDescription" is not in the document\'s schema',
    ]);
  });
});
