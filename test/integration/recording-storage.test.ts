import { createHash, randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStore } from '../../src/recording/storage/LocalStore.js';
import { S3Store, S3StoreError } from '../../src/recording/storage/S3Store.js';
import { freeTcpPort } from '../helpers/redis.js';
import { startS3Server, type TestS3 } from '../helpers/s3.js';

const MiB = 1024 * 1024;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'switchyard-recording-storage-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A file of `size` random bytes in the test's directory (or `dir`). */
async function randomFile(name: string, size: number, dir = work): Promise<{ path: string; bytes: Buffer }> {
  const bytes = randomBytes(size);
  const path = join(dir, name);
  await writeFile(path, bytes);
  return { path, bytes };
}

describe('LocalStore', () => {
  it('moves the file under its key, nested directories created, and answers its absolute path and size', async () => {
    const store = new LocalStore(join(work, 'recordings'));
    const { path, bytes } = await randomFile('finished.webm', 64 * 1024);
    const saved = await store.save(path, 'acme/2026-12-07/rec-1.webm', 'video/webm');
    const expected = join(work, 'recordings', 'acme', '2026-12-07', 'rec-1.webm');
    expect(saved).toEqual({ location: expected, size: bytes.length });
    expect(existsSync(path)).toBe(false);
    expect(sha256(await readFile(expected))).toBe(sha256(bytes));
  });

  it('accepts a relative directory and answers an absolute location', async () => {
    const store = new LocalStore(join(work, 'rel', '..', 'recordings-2'));
    const { path } = await randomFile('a.ogg', 10);
    const saved = await store.save(path, 'a.ogg', 'audio/ogg');
    expect(saved.location).toBe(join(work, 'recordings-2', 'a.ogg'));
  });

  it('copies then removes the file across filesystems (EXDEV)', async (context) => {
    // /dev/shm is a tmpfs: another device than the temp directory on most machines.
    if (!existsSync('/dev/shm') || statSync('/dev/shm').dev === statSync(work).dev) return context.skip();
    const scratch = await mkdtemp('/dev/shm/switchyard-rec-');
    try {
      const { path, bytes } = await randomFile('across.webm', 3 * MiB + 5, scratch);
      const store = new LocalStore(join(work, 'recordings-exdev'));
      const saved = await store.save(path, 'acme/across.webm', 'video/webm');
      expect(saved.size).toBe(bytes.length);
      expect(existsSync(path)).toBe(false);
      expect(sha256(await readFile(saved.location))).toBe(sha256(bytes));
      // no temporary copy left beside it
      expect(await readdir(join(work, 'recordings-exdev', 'acme'))).toEqual(['across.webm']);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });

  it('refuses keys that leave the directory, and writes nothing', async () => {
    const root = join(work, 'jail');
    await mkdir(root, { recursive: true });
    const store = new LocalStore(join(root, 'recordings'));
    const { path } = await randomFile('escape.webm', 100);
    for (const key of ['../escape.webm', 'acme/../../escape.webm', '/etc/escape.webm', '..', 'acme/./x.webm', 'acme//x.webm', '', 'a\\..\\..\\x.webm']) {
      await expect(store.save(path, key, 'video/webm'), key).rejects.toThrow(/refusing key/);
    }
    expect(existsSync(path)).toBe(true);
    expect(await readdir(root)).toEqual([]);
  });
});

describe('S3Store against s3rver', () => {
  let s3: TestS3;
  const stores: S3Store[] = [];
  const storeFor = (overrides: Partial<ConstructorParameters<typeof S3Store>[0]> = {}) => {
    const store = new S3Store({
      endpoint: s3.endpoint,
      region: s3.region,
      bucket: s3.bucket,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      ...overrides,
    });
    stores.push(store);
    return store;
  };

  beforeAll(async () => {
    s3 = await startS3Server();
  });

  afterAll(async () => {
    for (const store of stores) store.close();
    await s3?.close();
  });

  it('uploads a small file in one request and answers its s3:// location and size', async () => {
    const store = storeFor({ prefix: 'switchyard/' });
    const { path, bytes } = await randomFile('small.webm', 1234);
    const before = s3.requests.length;
    const saved = await store.save(path, 'acme/2026-12-07/small.webm', 'video/webm');
    expect(saved).toEqual({ location: `s3://${s3.bucket}/switchyard/acme/2026-12-07/small.webm`, size: bytes.length });
    const sent = s3.requests.slice(before);
    expect(sent.map((r) => r.method)).toEqual(['PUT']);
    expect(sent[0]!.auth).toBe('ok');
    expect(sha256(await s3.get('switchyard/acme/2026-12-07/small.webm'))).toBe(sha256(bytes));
  });

  it('uploads a 20 MiB file in 8 MiB parts (multipart) and the bytes read back are the same', async () => {
    const store = storeFor();
    const { path, bytes } = await randomFile('large.mkv', 20 * MiB);
    const before = s3.requests.length;
    const started = performance.now();
    const saved = await store.save(path, 'acme/large.mkv', 'video/x-matroska');
    const took = performance.now() - started;
    expect(saved).toEqual({ location: `s3://${s3.bucket}/acme/large.mkv`, size: 20 * MiB });

    // What the server saw: CreateMultipartUpload, three UploadParts (8 + 8 + 4 MiB), CompleteMultipartUpload.
    const sent = s3.requests.slice(before);
    expect(sent.every((r) => r.auth === 'ok')).toBe(true);
    expect(sent[0]).toMatchObject({ method: 'POST', path: `/${s3.bucket}/acme/large.mkv`, query: { uploads: '' } });
    const parts = sent.filter((r) => r.method === 'PUT' && r.query.partNumber).map((r) => Number(r.query.partNumber));
    expect(parts.sort()).toEqual([1, 2, 3]);
    expect(new Set(sent.filter((r) => r.query.partNumber).map((r) => r.query.uploadId)).size).toBe(1);
    expect(sent.at(-1)).toMatchObject({ method: 'POST', query: { uploadId: expect.any(String) } });

    const back = await s3.get('acme/large.mkv');
    expect(back.length).toBe(bytes.length);
    expect(sha256(back)).toBe(sha256(bytes));
    expect(await s3.list()).toEqual(['acme/large.mkv', 'switchyard/acme/2026-12-07/small.webm']);
    console.log(`20 MiB multipart upload to s3rver: ${took.toFixed(0)} ms`);
  });

  it('a wrong secret fails with a clear error that echoes no credentials', async () => {
    const wrongSecret = `wrong-${randomBytes(12).toString('hex')}`;
    const store = storeFor({ secretAccessKey: wrongSecret });
    const { path } = await randomFile('denied.webm', 2048);
    const error = await store.save(path, 'acme/denied.webm', 'video/webm').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(S3StoreError);
    const { message, code, status } = error as S3StoreError;
    expect(message).toBe(`S3 upload to s3://${s3.bucket}/acme/denied.webm failed: the credentials were refused (HTTP 403 SignatureDoesNotMatch)`);
    expect({ code, status }).toEqual({ code: 'SignatureDoesNotMatch', status: 403 });
    for (const secret of [wrongSecret, s3.secretAccessKey, s3.accessKeyId, s3.endpoint, '127.0.0.1']) expect(message).not.toContain(secret);
    expect(s3.requests.at(-1)!.auth).toBe('SignatureDoesNotMatch');
    expect(await s3.list()).not.toContain('acme/denied.webm');
  });

  it('an unknown access key id fails with a clear error', async () => {
    const store = storeFor({ accessKeyId: 'AKIANOTKNOWNHERE0000' });
    const { path } = await randomFile('unknown-key.webm', 10);
    await expect(store.save(path, 'acme/unknown-key.webm', 'video/webm')).rejects.toThrow(
      `S3 upload to s3://${s3.bucket}/acme/unknown-key.webm failed: the credentials were refused (HTTP 403 InvalidAccessKeyId)`,
    );
  });

  it('a bucket that does not exist fails with a clear error (small and multipart)', async () => {
    const store = storeFor({ bucket: 'no-such-bucket' });
    const small = await randomFile('nobucket.webm', 100);
    await expect(store.save(small.path, 'acme/x.webm', 'video/webm')).rejects.toThrow(
      'S3 upload to s3://no-such-bucket/acme/x.webm failed: the bucket does not exist (HTTP 404 NoSuchBucket)',
    );
    const large = await randomFile('nobucket.mkv', 9 * MiB);
    await expect(store.save(large.path, 'acme/x.mkv', 'video/x-matroska')).rejects.toThrow(
      'S3 upload to s3://no-such-bucket/acme/x.mkv failed: the bucket does not exist (HTTP 404 NoSuchBucket)',
    );
  });

  it('a server that does not answer fails with a clear error naming no address', async () => {
    const port = await freeTcpPort();
    const store = storeFor({ endpoint: `http://127.0.0.1:${port}` });
    const { path } = await randomFile('unreachable.webm', 100);
    const error = (await store.save(path, 'acme/u.webm', 'video/webm').catch((e: unknown) => e)) as Error;
    expect(error.message).toBe(`S3 upload to s3://${s3.bucket}/acme/u.webm failed: the storage server could not be reached (ECONNREFUSED)`);
  });

  it('refuses keys that are not relative paths, and saves nothing after close()', async () => {
    const store = storeFor();
    const { path } = await randomFile('k.webm', 10);
    await expect(store.save(path, '../k.webm', 'video/webm')).rejects.toThrow(/refusing key/);
    await expect(store.save(path, '/k.webm', 'video/webm')).rejects.toThrow(/refusing key/);
    store.close();
    await expect(store.save(path, 'k.webm', 'video/webm')).rejects.toThrow(/closed/);
  });
});
