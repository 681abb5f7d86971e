import type { ErrorCode } from '../errors.js';

export interface TrackError {
  code: ErrorCode;
  message: string;
}

/** The outcome for one track of a multi-track operation (the contract's TrackResult). */
export interface TrackResult {
  mid: string | null;
  sessionId: string | null;
  trackName: string | null;
  error: TrackError | null;
}

/**
 * Collects per-track outcomes in request order. A track that fails gets its
 * error here and the operation goes on with the others.
 */
export class TrackResults {
  readonly items: TrackResult[] = [];

  add(result: Omit<TrackResult, 'error'>): number {
    this.items.push({ ...result, error: null });
    return this.items.length - 1;
  }

  fail(index: number, code: ErrorCode, message: string): void {
    const item = this.items[index];
    if (item) item.error = { code, message };
  }

  setMid(index: number, mid: string): void {
    const item = this.items[index];
    if (item) item.mid = mid;
  }

  failed(index: number): boolean {
    return this.items[index]?.error != null;
  }
}
