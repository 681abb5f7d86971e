/** Where a finished recording file goes: a directory of this node, or S3-compatible object storage. */
export interface RecordingStore {
  /** 'local' or 's3': what the API shows as the recording's storage. */
  readonly kind: 'local' | 's3';
  /**
   * Keeps the finished file at `localPath` under `key` (a relative path such as
   * `acme/2026-12-07/<recordingId>.webm`) and answers where it is now: a path of
   * this node, or an s3:// URL. The local file may be removed afterwards.
   */
  save(localPath: string, key: string, contentType: string): Promise<{ location: string; size: number }>;
}
