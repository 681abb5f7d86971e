import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Checks JSON response bodies against the reduced copy of Cloudflare's
 * Realtime SFU OpenAPI document (test/fixtures/cloudflare-calls-openapi-2024-05-21.json):
 * every property a body has is declared by the operation's response schema,
 * with the declared JSON type, enum value and bounds, and every required
 * property is there. Keys starting with "x-" in the document are notes, and
 * `default` says nothing about a response: both are ignored.
 */
export interface Schema {
  $ref?: string;
  type?: 'object' | 'array' | 'string' | 'boolean' | 'integer' | 'number';
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  minLength?: number;
  minItems?: number;
  minimum?: number;
}

export interface OpenApiFixture {
  operations: Record<string, { requestBody: Schema | null; responses: Record<string, Schema> }>;
  schemas: Record<string, Schema>;
  notes: string[];
}

export const FIXTURE_PATH = join(import.meta.dirname, '..', 'fixtures', 'cloudflare-calls-openapi-2024-05-21.json');

export function loadFixture(path = FIXTURE_PATH): OpenApiFixture {
  return JSON.parse(readFileSync(path, 'utf8')) as OpenApiFixture;
}

/**
 * A property Switchyard returns that the document does not declare, allowed
 * explicitly: for one operation and status, at one JSON path ("$.a.b",
 * array items as "[]"), checked against `schema` instead.
 */
export interface AllowedDifference {
  operation: string;
  status: number;
  path: string;
  schema: Schema;
  why: string;
}

/** The operation key of the document ("PUT /apps/{appId}/sessions/{sessionId}/renegotiate") a request path matches, if any. */
export function operationOf(fixture: OpenApiFixture, method: string, path: string): string | undefined {
  const pathname = path.split('?')[0] as string;
  const keys = Object.keys(fixture.operations).filter((key) => key.startsWith(`${method.toUpperCase()} `));
  // Literal templates first: POST sessions/new is not POST sessions/{sessionId}.
  keys.sort((a, b) => (a.match(/\{/g)?.length ?? 0) - (b.match(/\{/g)?.length ?? 0));
  return keys.find((key) => {
    const template = key.slice(key.indexOf(' ') + 1);
    const pattern = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+');
    return new RegExp(`^(?:/v1)?${pattern}$`).test(pathname);
  });
}

/**
 * The schema a response must follow: the operation's declared response for
 * that status; for an error status (none is declared for these operations),
 * schemas.ErrorResponse, the notes' errorCode/errorDescription body.
 */
export function responseSchema(fixture: OpenApiFixture, operation: string | undefined, status: number): Schema {
  const declared = operation ? fixture.operations[operation]?.responses[String(status)] : undefined;
  if (declared) return declared;
  if (status >= 400) return { $ref: '#/schemas/ErrorResponse' };
  throw new Error(`the document declares no ${status} response for ${operation ?? 'this path'}`);
}

export interface ShapeCheck {
  /** What does not match, one line each ("$.tracks[0].mid: null is not a string"). */
  problems: string[];
  /** Which allowed differences this body used (their paths). */
  used: string[];
}

/** Walks `value` along `schema`; `allowed` are the extra properties permitted (already filtered to this operation and status). */
export function checkShape(fixture: OpenApiFixture, schema: Schema, value: unknown, allowed: readonly AllowedDifference[] = []): ShapeCheck {
  const check: ShapeCheck = { problems: [], used: [] };
  walk(fixture, schema, value, '$', '$', allowed, check);
  return check;
}

/** checkShape for one response: the operation (from method and path) and status pick the schema and the allowed differences. */
export function checkResponse(
  fixture: OpenApiFixture,
  request: { method: string; path: string },
  status: number,
  body: unknown,
  allowed: readonly AllowedDifference[] = [],
): ShapeCheck & { operation: string | undefined } {
  const operation = operationOf(fixture, request.method, request.path);
  const schema = responseSchema(fixture, operation, status);
  const mine = allowed.filter((a) => a.operation === operation && a.status === status);
  return { operation, ...checkShape(fixture, schema, body, mine) };
}

function resolve(fixture: OpenApiFixture, schema: Schema): Schema {
  let current = schema;
  for (let depth = 0; current.$ref; depth += 1) {
    if (depth > 16) throw new Error(`$ref loop at ${schema.$ref}`);
    const match = /^#\/schemas\/(.+)$/.exec(current.$ref);
    const target = match ? fixture.schemas[match[1] as string] : undefined;
    if (!target) throw new Error(`unresolved $ref ${current.$ref}`);
    current = target;
  }
  return current;
}

const describe = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'string' ? `"${value}"` : `${typeof value} ${JSON.stringify(value)}`);

/** `at` is the concrete path ("$.tracks[2].mid"), `shape` the same with "[]" for array items, which allow-list paths use. */
function walk(fixture: OpenApiFixture, raw: Schema, value: unknown, at: string, shape: string, allowed: readonly AllowedDifference[], check: ShapeCheck): void {
  const schema = resolve(fixture, raw);
  const fail = (problem: string) => check.problems.push(`${at}: ${problem}`);
  switch (schema.type) {
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return void fail(`${describe(value)} is not an object`);
      const record = value as Record<string, unknown>;
      for (const key of schema.required ?? []) {
        if (record[key] === undefined) fail(`required property "${key}" is missing`);
      }
      for (const [key, child] of Object.entries(record)) {
        const declared = schema.properties?.[key];
        if (declared) {
          walk(fixture, declared, child, `${at}.${key}`, `${shape}.${key}`, allowed, check);
          continue;
        }
        const allowance = allowed.find((a) => a.path === `${shape}.${key}`);
        if (!allowance) {
          fail(`property "${key}" is not in the document's schema`);
          continue;
        }
        if (!check.used.includes(allowance.path)) check.used.push(allowance.path);
        walk(fixture, allowance.schema, child, `${at}.${key}`, `${shape}.${key}`, allowed, check);
      }
      return;
    }
    case 'array': {
      if (!Array.isArray(value)) return void fail(`${describe(value)} is not an array`);
      if (schema.minItems !== undefined && value.length < schema.minItems) fail(`${value.length} items, fewer than ${schema.minItems}`);
      value.forEach((item, i) => walk(fixture, schema.items ?? {}, item, `${at}[${i}]`, `${shape}[]`, allowed, check));
      return;
    }
    case 'string':
      if (typeof value !== 'string') return void fail(`${describe(value)} is not a string`);
      if (schema.minLength !== undefined && value.length < schema.minLength) fail(`"${value}" is shorter than ${schema.minLength}`);
      break;
    case 'boolean':
      if (typeof value !== 'boolean') return void fail(`${describe(value)} is not a boolean`);
      break;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) return void fail(`${describe(value)} is not an integer`);
      break;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) return void fail(`${describe(value)} is not a number`);
      break;
    case undefined:
      // A schema with no type accepts anything but JSON null, which nothing in this document declares.
      if (value === null) fail('null where the document declares no nullable value');
      return;
  }
  if (schema.enum && !schema.enum.includes(value)) fail(`${describe(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (schema.minimum !== undefined && typeof value === 'number' && value < schema.minimum) fail(`${value} is below the minimum ${schema.minimum}`);
}
