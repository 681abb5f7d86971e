import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';

/**
 * s3rver (npm): a real S3-compatible server (XML API, multipart uploads,
 * objects kept in a directory) run in this process. What it lacks is
 * checked here in front of it: s3rver accepts any SigV4 signature (its source,
 * lib/middleware/authentication.js: "V4 signatures have incomplete support":
 * it looks the key id up but never computes the signature), so a wrong
 * secret would pass. verifySigV4 below recomputes each
 * request's signature from the secret, as S3 does, and answers 403
 * SignatureDoesNotMatch (or InvalidAccessKeyId / AccessDenied) like S3.
 */
const require = createRequire(import.meta.url);

/** The parts of s3rver (no types of its own) used here. */
interface S3rverInstance {
  configureBuckets(): Promise<unknown>;
  getMiddleware(): RequestListener;
  logger?: { close(): void };
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;
interface S3rverAccount {
  createKeyPair(accessKeyId: string, secretAccessKey: string): void;
  revokeAccessKey(accessKeyId: string): void;
}

/** One request as the server saw it (before answering). */
export interface S3Request {
  method: string;
  /** The path, bucket first ('/bucket/key'), decoded. */
  path: string;
  /** Query parameters (partNumber, uploadId, uploads, ...). */
  query: Record<string, string>;
  /** What the request was answered by the signature check: 'ok' or the S3 error code it got. */
  auth: string;
}

export interface TestS3 {
  /** http://127.0.0.1:<port>: use path-style addressing (forcePathStyle). */
  readonly endpoint: string;
  readonly region: string;
  /** A bucket created at start. */
  readonly bucket: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Every request so far, in order of arrival. */
  readonly requests: readonly S3Request[];
  /** An object's bytes, read back through the S3 API (GetObject). */
  get(key: string): Promise<Buffer>;
  /** All keys of the bucket, through the S3 API (ListObjectsV2). */
  list(): Promise<string[]>;
  /** Stops the server and removes its directory. */
  close(): Promise<void>;
}

/** An s3rver on a free loopback port, in a directory of its own, with a bucket and a key pair of its own. */
export async function startS3Server(options: { bucket?: string } = {}): Promise<TestS3> {
  const S3rver = require('s3rver') as S3rverClass;
  // s3rver's accounts: a process-wide registry; the key id is random so that
  // servers of one process do not share keys.
  const account = (require('s3rver/lib/models/account.js') as { DUMMY_ACCOUNT: S3rverAccount }).DUMMY_ACCOUNT;
  const directory = await mkdtemp(join(tmpdir(), 'switchyard-s3-'));
  const bucket = options.bucket ?? 'recordings';
  const region = 'us-east-1';
  const accessKeyId = `TEST${randomBytes(8).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(20).toString('base64url');
  account.createKeyPair(accessKeyId, secretAccessKey);

  const s3rver = new S3rver({ silent: true, directory, configureBuckets: [{ name: bucket }], vhostBuckets: false });
  await s3rver.configureBuckets();
  const handle = s3rver.getMiddleware();
  const requests: S3Request[] = [];

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://s3.invalid');
    const auth = verifySigV4(req, accessKeyId, secretAccessKey);
    requests.push({ method: req.method ?? '', path: decodeURIComponent(url.pathname), query: Object.fromEntries(url.searchParams), auth: auth?.code ?? 'ok' });
    if (!auth) return handle(req, res);
    rejectRequest(req, res, auth.code, auth.message);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({ endpoint, forcePathStyle: true, region, credentials: { accessKeyId, secretAccessKey } });

  return {
    endpoint,
    region,
    bucket,
    accessKeyId,
    secretAccessKey,
    requests,
    async get(key) {
      const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!answer.Body) throw new Error(`no body for ${key}`);
      return Buffer.from(await answer.Body.transformToByteArray());
    },
    async list() {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
        for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return keys.sort();
    },
    async close() {
      client.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      s3rver.logger?.close();
      account.revokeAccessKey(accessKeyId);
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Answers an S3 error the way S3 does (XML), after reading the body the client is sending (else it may see a reset, not the 403). */
function rejectRequest(req: IncomingMessage, res: ServerResponse, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>${randomBytes(8).toString('hex')}</RequestId></Error>`;
  const send = () => {
    res.writeHead(403, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  req.on('end', send);
  req.on('error', () => res.destroy());
  req.resume();
}

const AUTH_PATTERN = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

/**
 * AWS Signature Version 4 (header form), computed from the secret as S3 does:
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html.
 * Undefined when the request is signed with this key pair, else the S3 error to answer.
 */
function verifySigV4(req: IncomingMessage, accessKeyId: string, secretAccessKey: string): { code: string; message: string } | undefined {
  const header = req.headers.authorization;
  if (!header) return { code: 'AccessDenied', message: 'Access Denied' };
  const match = AUTH_PATTERN.exec(header);
  if (!match) return { code: 'AuthorizationHeaderMalformed', message: 'The authorization header is malformed.' };
  const [, keyId, date, region, service, signedHeaders, signature] = match as unknown as string[];
  if (keyId !== accessKeyId) return { code: 'InvalidAccessKeyId', message: 'The AWS Access Key Id you provided does not exist in our records.' };
  const amzDate = headerValue(req, 'x-amz-date');
  const payloadHash = headerValue(req, 'x-amz-content-sha256');
  if (!amzDate.startsWith(date!) || !payloadHash) return { code: 'AuthorizationHeaderMalformed', message: 'The authorization header is malformed.' };

  const rawUrl = req.url ?? '/';
  const queryAt = rawUrl.indexOf('?');
  const canonicalUri = queryAt < 0 ? rawUrl : rawUrl.slice(0, queryAt);
  const canonicalQuery = (queryAt < 0 ? '' : rawUrl.slice(queryAt + 1))
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      const value = eq < 0 ? '' : pair.slice(eq + 1);
      return [rfc3986(decodeURIComponent(name)), rfc3986(decodeURIComponent(value))] as const;
    })
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  const names = signedHeaders!.split(';');
  const canonicalHeaders = names.map((name) => `${name}:${headerValue(req, name).trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonicalRequest = [req.method, canonicalUri, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  let key = hmac(`AWS4${secretAccessKey}`, date!);
  for (const part of [region!, service!, 'aws4_request']) key = hmac(key, part);
  const expected = createHmac('sha256', key).update(stringToSign).digest();
  const provided = Buffer.from(signature!, 'hex');
  if (provided.length === expected.length && timingSafeEqual(provided, expected)) return undefined;
  return {
    code: 'SignatureDoesNotMatch',
    message: 'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
  };
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function headerValue(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : (value ?? '');
}

/** URI encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ percent-encoded. */
function rfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
