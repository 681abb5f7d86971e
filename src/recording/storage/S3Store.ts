import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
// The AWS SDK v3, not a hand-rolled client: it is the official, maintained
// implementation of S3 (SigV4 signing, the XML error shapes, retries with
// backoff on throttling and 5xx answers), and it speaks to every S3-compatible
// server (MinIO, Ceph RGW, R2, Garage, ...) through `endpoint` + path-style
// addressing. lib-storage's Upload adds multipart uploads: a recording of
// hours is sent in parts with a bounded memory use, each part retried on its
// own, and an upload that fails is aborted (no orphan parts billed).
import { S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { RecordingStore } from './RecordingStore.js';

export interface S3StoreOptions {
  /** For S3-compatible servers (MinIO, Ceph, ...): their URL. Addressed path-style then (bucket in the path, not the host). Unset for AWS itself. */
  endpoint?: string;
  /** Default us-east-1 (what most S3-compatible servers accept whatever their own). */
  region?: string;
  bucket: string;
  /** Put before every key as it is: include the trailing '/' for a folder ('recordings/'). */
  prefix?: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Size of a multipart part (S3's minimum is 5 MiB). Default 8 MiB. */
  partSize?: number;
  /** Parts in flight at once per upload. Default 2: memory is partSize × queueSize per upload. */
  queueSize?: number;
}

/** Why an S3 save failed, in words safe to show to an API client: the bucket and key, never credentials nor the endpoint. */
export class S3StoreError extends Error {
  /** The S3 error code (NoSuchBucket, AccessDenied, ...) or a network error code (ECONNREFUSED), when known. */
  readonly code: string | undefined;
  /** The HTTP status the server answered, when it answered. */
  readonly status: number | undefined;

  constructor(message: string, code: string | undefined, status: number | undefined, cause: unknown) {
    super(message, { cause });
    this.name = 'S3StoreError';
    this.code = code;
    this.status = status;
  }
}

const MiB = 1024 * 1024;

/** Codes whose meaning is "these credentials are not accepted here". */
const CREDENTIAL_CODES = new Set([
  'SignatureDoesNotMatch',
  'InvalidAccessKeyId',
  'AccessDenied',
  'InvalidToken',
  'ExpiredToken',
  'AuthorizationHeaderMalformed',
  'InvalidSecurity',
]);

/** Network failures (no HTTP answer): named by their code only, never with the address they were for. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'TimeoutError',
]);

/** An S3 bucket (or a prefix of it) on AWS or any S3-compatible server. */
export class S3Store implements RecordingStore {
  readonly kind = 's3' as const;
  readonly bucket: string;
  readonly prefix: string;
  readonly #client: S3Client;
  readonly #partSize: number;
  readonly #queueSize: number;
  #closed = false;

  constructor(options: S3StoreOptions) {
    if (!options.bucket) throw new Error('S3Store: a bucket is needed');
    if (!options.accessKeyId || !options.secretAccessKey) throw new Error('S3Store: an access key id and a secret access key are needed');
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? '';
    this.#partSize = Math.max(5 * MiB, options.partSize ?? 8 * MiB);
    this.#queueSize = Math.max(1, options.queueSize ?? 2);
    this.#client = new S3Client({
      region: options.region ?? 'us-east-1',
      credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
      ...(options.endpoint
        ? {
            endpoint: options.endpoint,
            forcePathStyle: true,
            // Checksums only where S3 requires them, for S3-compatible servers:
            // since early 2025 the SDK otherwise adds CRC32 checksum headers or
            // trailers (aws-chunked bodies) to every upload, which several of
            // them reject or store wrongly. Each part's body stays covered by
            // the signed SHA-256 payload hash (x-amz-content-sha256). AWS itself
            // keeps the SDK's default (CRC32 checked by S3).
            requestChecksumCalculation: 'WHEN_REQUIRED' as const,
            responseChecksumValidation: 'WHEN_REQUIRED' as const,
          }
        : {}),
      // The SDK's standard retry strategy (exponential backoff with jitter on
      // throttling, 5xx and network errors), a little more patient than its default 3.
      maxAttempts: 5,
    });
  }

  /** The s3:// URL a key is saved under. */
  locationOf(key: string): string {
    return `s3://${this.bucket}/${this.prefix}${key}`;
  }

  async save(localPath: string, key: string, contentType: string): Promise<{ location: string; size: number }> {
    checkKey(key);
    if (this.#closed) throw new Error('S3Store: closed');
    const objectKey = this.prefix + key;
    const location = this.locationOf(key);
    // The size now: the recorder has finished writing, and the answer should
    // not depend on what the server says it stored.
    const { size } = await stat(localPath);
    const body = createReadStream(localPath);
    const upload = new Upload({
      client: this.#client,
      params: { Bucket: this.bucket, Key: objectKey, Body: body, ContentType: contentType, ContentLength: size },
      partSize: this.#partSize,
      queueSize: this.#queueSize,
      // A failed multipart upload is aborted, not left as parts that cost storage.
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (error) {
      throw describe(error, location);
    } finally {
      body.destroy();
    }
    return { location, size };
  }

  /** Frees the client's sockets. Saves after this fail. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.destroy();
  }
}

/** Keys are relative paths: the same rule as LocalStore, so a key means the same in both stores. */
function checkKey(key: string): void {
  if (!key || key.startsWith('/') || key.includes('\\') || key.includes('\0') || key.split('/').some((part) => part === '..' || part === '.' || part === '')) {
    throw new Error(`S3Store: refusing key ${JSON.stringify(key)}: keys are relative paths without '.', '..' or empty segments`);
  }
}

/** A failure turned into words for people: what it means, its code; none of the server's own text (it may echo key ids or request details). */
function describe(error: unknown, location: string): S3StoreError {
  const prefix = `S3 upload to ${location} failed`;
  if (error instanceof S3ServiceException) {
    const code = error.name;
    const status = error.$metadata?.httpStatusCode;
    const statusText = status ? `HTTP ${status} ` : '';
    if (code === 'NoSuchBucket') return new S3StoreError(`${prefix}: the bucket does not exist (${statusText}NoSuchBucket)`, code, status, error);
    if (CREDENTIAL_CODES.has(code) || status === 401 || status === 403) {
      return new S3StoreError(`${prefix}: the credentials were refused (${statusText}${code})`, code, status, error);
    }
    return new S3StoreError(`${prefix}: the server answered ${statusText}${code}`, code, status, error);
  }
  const code = errorCode(error);
  if (code === 'ENOENT') return new S3StoreError(`${prefix}: the local file is gone (ENOENT)`, code, undefined, error);
  if (code && NETWORK_CODES.has(code)) return new S3StoreError(`${prefix}: the storage server could not be reached (${code})`, code, undefined, error);
  if (error instanceof Error && error.name === 'AbortError') return new S3StoreError(`${prefix}: aborted`, 'AbortError', undefined, error);
  return new S3StoreError(`${prefix}${code ? ` (${code})` : ''}`, code, undefined, error);
}

function errorCode(error: unknown): string | undefined {
  if (!error || typeof error !== 'object') return undefined;
  const { code, name } = error as { code?: unknown; name?: unknown };
  if (typeof code === 'string') return code;
  if (typeof name === 'string' && name !== 'Error') return name;
  return undefined;
}
