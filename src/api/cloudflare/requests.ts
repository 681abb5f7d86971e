import { invalidParams } from './errors.js';

/**
 * Reading Cloudflare-style request bodies: untrusted JSON checked field by
 * field, so that a wrong type is invalid_params naming the field rather than
 * an error deeper down.
 */
export type Json = Record<string, unknown>;

export function object(value: unknown, what: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidParams(`${what} must be a JSON object`);
  return value as Json;
}

export function optionalObject(body: Json, key: string, what = key): Json | undefined {
  return body[key] === undefined || body[key] === null ? undefined : object(body[key], what);
}

export function optionalString(body: Json, key: string, what = key): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidParams(`${what} must be a string`);
  return value;
}

export function optionalBoolean(body: Json, key: string, what = key): boolean | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw invalidParams(`${what} must be true or false`);
  return value;
}

export function optionalInteger(body: Json, key: string, what = key): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidParams(`${what} must be an integer`);
  return value;
}

export function optionalArray(body: Json, key: string, what = key): Json[] | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw invalidParams(`${what} must be an array`);
  return value.map((item, i) => object(item, `${what}[${i}]`));
}

/** A SessionDescription ({ type: "offer" | "answer", sdp }) as the GraphQL API takes it. */
export function description(body: Json, key = 'sessionDescription'): { type: 'OFFER' | 'ANSWER'; sdp: string } | undefined {
  const value = optionalObject(body, key);
  if (!value) return undefined;
  const type = optionalString(value, 'type', `${key}.type`);
  const sdp = optionalString(value, 'sdp', `${key}.sdp`);
  if (type !== 'offer' && type !== 'answer') throw invalidParams(`${key}.type must be "offer" or "answer"`);
  if (sdp === undefined) throw invalidParams(`${key}.sdp is missing`);
  return { type: type === 'offer' ? 'OFFER' : 'ANSWER', sdp };
}

/** The same from the GraphQL API back to Cloudflare's form. */
export function toDescription(value: { type: 'OFFER' | 'ANSWER'; sdp: string } | null | undefined): { type: 'offer' | 'answer'; sdp: string } | undefined {
  return value ? { type: value.type === 'OFFER' ? 'offer' : 'answer', sdp: value.sdp } : undefined;
}

/** "local" or "remote": every entry of one tracks/new or datachannels/new call is the one or the other. */
export function location(items: Json[], what: string): 'local' | 'remote' | undefined {
  const locations = new Set(items.map((item, i) => optionalString(item, 'location', `${what}[${i}].location`) ?? 'missing'));
  if (locations.size === 0) return undefined;
  if (locations.size > 1) throw invalidParams(`keep every entry of ${what} "local" or every entry "remote"`);
  const [only] = locations;
  if (only !== 'local' && only !== 'remote') throw invalidParams(`${what}[].location must be "local" or "remote"`);
  return only;
}
