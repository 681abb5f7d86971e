import { resolve } from 'node:path';
import { ConfigError, integer, type Env } from '../config/parse.js';

/** S3-compatible object storage for recordings (RECORDINGS_S3_*). */
export interface S3Config {
  readonly endpoint: string | undefined;
  readonly region: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** Recording settings (RECORDINGS_*, MAX_RECORDINGS_*; docs/recording.md). */
export interface RecordingConfig {
  /** Where files are written while recording (a spool under it) and kept when stored locally. */
  readonly dir: string;
  /** Object storage for recordings that ask for it (and, with RECORDINGS_STORAGE=s3, by default); undefined: none. */
  readonly s3: S3Config | undefined;
  readonly defaultStorage: 'local' | 's3';
  readonly maxPerNode: number;
  readonly maxPerApp: number;
}

export function recordingConfig(env: Env, apps: readonly { id: string; recordingStorage?: 'local' | 's3' | undefined }[] = []): RecordingConfig {
  const bucket = env.RECORDINGS_S3_BUCKET?.trim();
  let s3: S3Config | undefined;
  if (bucket) {
    const accessKeyId = env.RECORDINGS_S3_ACCESS_KEY_ID ?? env.AWS_ACCESS_KEY_ID;
    const secretAccessKey = env.RECORDINGS_S3_SECRET_ACCESS_KEY ?? env.AWS_SECRET_ACCESS_KEY;
    if (!accessKeyId || !secretAccessKey) throw new ConfigError('RECORDINGS_S3_BUCKET needs RECORDINGS_S3_ACCESS_KEY_ID and RECORDINGS_S3_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)');
    const endpoint = env.RECORDINGS_S3_ENDPOINT?.trim() || undefined;
    if (endpoint && !/^https?:\/\//.test(endpoint)) throw new ConfigError(`RECORDINGS_S3_ENDPOINT must be an http:// or https:// URL, got "${endpoint}"`);
    s3 = { endpoint, region: env.RECORDINGS_S3_REGION?.trim() || 'us-east-1', bucket, prefix: env.RECORDINGS_S3_PREFIX ?? '', accessKeyId, secretAccessKey };
  }
  const storage = env.RECORDINGS_STORAGE?.trim() || (s3 ? 's3' : 'local');
  if (storage !== 'local' && storage !== 's3') throw new ConfigError(`RECORDINGS_STORAGE must be local or s3, got "${storage}"`);
  if (storage === 's3' && !s3) throw new ConfigError('RECORDINGS_STORAGE=s3 needs RECORDINGS_S3_BUCKET');
  const wantsS3 = apps.find((app) => app.recordingStorage === 's3');
  if (wantsS3 && !s3) throw new ConfigError(`app ${wantsS3.id} records to S3 (recordingStorage in APPS_FILE), which needs RECORDINGS_S3_BUCKET`);
  return {
    dir: resolve(env.RECORDINGS_DIR?.trim() || 'recordings'),
    s3,
    defaultStorage: storage,
    maxPerNode: integer(env, 'MAX_RECORDINGS_PER_NODE', 32, 0, 10_000),
    maxPerApp: integer(env, 'MAX_RECORDINGS_PER_APP', 16, 0, 10_000),
  };
}
