import type { SimulcastPreference } from './types.js';

/** A pull as the application asked for it: what a move pulls again. */
export interface PullRecord {
  sessionId: string;
  trackName: string;
  simulcast?: SimulcastPreference;
  /** The track now playing it (a move replaces it: the old PeerConnection's tracks end with it). */
  track: MediaStreamTrack;
  /** pullStream(): the stream the application plays, whose track a move swaps. */
  stream?: MediaStream;
}

/**
 * The pulls this session made and still holds, so that a move (a new
 * PeerConnection) can make them again, and the streams handed out by
 * pullStream(), which keep playing across a move: the SDK swaps their track
 * (removeTrack, addTrack), which a media element playing the stream follows.
 */
export class PulledTracks {
  private readonly records: PullRecord[] = [];

  add(record: PullRecord): void {
    this.records.push(record);
  }

  /** The pull is over (closed, or its source ended for good). */
  forget(track: MediaStreamTrack): void {
    const index = this.records.findIndex((r) => r.track === track);
    if (index >= 0) this.records.splice(index, 1);
  }

  /** Every pull held now, to make again on a new PeerConnection; the list empties until they are. */
  takeAll(): PullRecord[] {
    return this.records.splice(0);
  }

  /** A pull made again after a move: its stream (if any) plays the new track. */
  replaced(record: PullRecord, track: MediaStreamTrack): void {
    const previous = record.track;
    if (record.stream) {
      // Remove first: the new PeerConnection's track often has the old one's id (the SFU's msid), and a stream ignores a
      // track whose id it holds already. A media element playing the stream follows the swap by itself (Chromium: ~1 frame).
      record.stream.removeTrack(previous);
      record.stream.addTrack(track);
    }
    this.records.push({ ...record, track });
  }
}
