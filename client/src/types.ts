export type MediaKind = 'AUDIO' | 'VIDEO';
export type TrackStatus = 'ACTIVE' | 'INACTIVE' | 'WAITING';
export type PeerConnectionState = 'NEW' | 'CONNECTING' | 'CONNECTED' | 'DISCONNECTED' | 'FAILED' | 'CLOSED';

/** A track some session publishes, as Switchyard describes it. */
export interface TrackInfo {
  sessionId: string;
  name: string;
  kind: MediaKind;
  status: TrackStatus;
  tags: string[];
  simulcastRids: string[];
}

export interface SessionDescriptionData {
  type: 'OFFER' | 'ANSWER';
  sdp: string;
}

export interface TrackResultData {
  mid: string | null;
  sessionId: string | null;
  trackName: string | null;
  error: { code: string; message: string } | null;
}

export interface TracksPayload {
  requiresImmediateRenegotiation?: boolean;
  sessionDescription: SessionDescriptionData | null;
  tracks: TrackResultData[];
}

export interface TrackFilter {
  sessionIds?: string[];
  tags?: string[];
  kind?: MediaKind;
}

export interface SimulcastPreference {
  preferredRid?: string;
  fallback?: 'AUTO' | 'LEAST_BANDWIDTH' | 'NONE';
}
