import { builder } from './builder.js';

export const SdpTypeEnum = builder.enumType('SdpType', {
  description: 'Whether a session description is an offer or an answer (JSEP).',
  values: {
    OFFER: { value: 'offer' as const, description: 'An offer: the other side answers it.' },
    ANSWER: { value: 'answer' as const, description: 'An answer to the other side\'s latest offer.' },
  },
});

export const MediaKindEnum = builder.enumType('MediaKind', {
  description: 'What a track carries. DATA marks a published data channel (see Track.dataChannel); it cannot be pushed or pulled as media.',
  values: {
    AUDIO: { value: 'audio' as const },
    VIDEO: { value: 'video' as const },
    DATA: {
      value: 'data' as const,
      description: 'A data channel, published with publishDataChannels and subscribed with subscribeDataChannels.',
    },
  },
});

export const TrackLocationEnum = builder.enumType('TrackLocation', {
  description: 'Which way a transceiver\'s track goes, seen from the session.',
  values: {
    LOCAL: { value: 'LOCAL' as const, description: 'A track this session pushes to the SFU.' },
    REMOTE: { value: 'REMOTE' as const, description: 'A track this session pulls from another session.' },
  },
});

export const TrackStatusEnum = builder.enumType('TrackStatus', {
  values: {
    ACTIVE: { value: 'ACTIVE' as const, description: 'Media is flowing.' },
    INACTIVE: {
      value: 'INACTIVE' as const,
      description: 'Negotiated, but no media has arrived for a while (or the source went away).',
    },
    WAITING: { value: 'WAITING' as const, description: 'Requested, but not yet negotiated or connected.' },
  },
});

export const PeerConnectionStateEnum = builder.enumType('PeerConnectionState', {
  description: 'The state of the session\'s PeerConnection as the SFU sees it (ICE and DTLS together).',
  values: ['NEW', 'CONNECTING', 'CONNECTED', 'DISCONNECTED', 'FAILED', 'CLOSED'] as const,
});

export const SimulcastFallbackEnum = builder.enumType('SimulcastFallback', {
  description: 'What a subscriber gets when its preferred simulcast layer stops.',
  values: {
    AUTO: { value: 'AUTO' as const, description: 'The best layer that is still arriving.' },
    LEAST_BANDWIDTH: { value: 'LEAST_BANDWIDTH' as const, description: 'The lowest layer that is still arriving.' },
    NONE: { value: 'NONE' as const, description: 'Nothing: the track pauses until the layer returns.' },
  },
});

export const TrackEventTypeEnum = builder.enumType('TrackEventType', {
  values: {
    PUBLISHED: { value: 'PUBLISHED' as const, description: 'The track appeared: it can be pulled.' },
    MOVED: {
      value: 'MOVED' as const,
      description:
        'The track\'s session moved (resumeSession: a new PeerConnection, perhaps on another node) and publishes the track again under the same name. It stayed published throughout: subscribers keep their transceivers and the SFU moves them onto the new source (an SFU offer on the same mid). No UNPUBLISHED/PUBLISHED pair comes with a move.',
    },
    UNPUBLISHED: { value: 'UNPUBLISHED' as const, description: 'The track is gone: its publisher closed it, or its session ended.' },
    ACTIVE: { value: 'ACTIVE' as const, description: 'Media started arriving (again).' },
    INACTIVE: {
      value: 'INACTIVE' as const,
      description: 'Media stopped arriving for a while, or the publisher\'s connection was lost. The track stays published and turns ACTIVE when media comes back.',
    },
    MUTED: { value: 'MUTED' as const, description: 'The publisher muted the track (setTrackMuted): show a placeholder, keep the pull.' },
    UNMUTED: { value: 'UNMUTED' as const, description: 'The publisher unmuted the track.' },
  },
});

export const SessionEventTypeEnum = builder.enumType('SessionEventType', {
  values: {
    CONNECTION_STATE_CHANGED: { value: 'CONNECTION_STATE_CHANGED' as const, description: 'session.connectionState changed.' },
    TRACK_ENDED: {
      value: 'TRACK_ENDED' as const,
      description: 'A pulled source track went away; the transceiver is now inactive.',
    },
    RENEGOTIATION_NEEDED: {
      value: 'RENEGOTIATION_NEEDED' as const,
      description: 'The SFU has an offer waiting (e.g. after a source changed); fetch it and renegotiate.',
    },
    LAYERS_IN_DEMAND: {
      value: 'LAYERS_IN_DEMAND' as const,
      description:
        'For a publisher: which simulcast layers of its track on `mid` someone watches changed (`layersInDemand`). Turn the other encodings off (RTCRtpSender.setParameters, active: false) to save upload; the SDK does.',
    },
    DATA_CHANNEL_ENDED: {
      value: 'DATA_CHANNEL_ENDED' as const,
      description:
        'A subscribed data channel ended: its source went away, or this subscriber could not keep up with a reliable channel (`dataChannelEndReason`). The SFU closed the channel `dataChannelId` (the client\'s RTCDataChannel gets its close event too).',
    },
    QUALITY_CHANGED: {
      value: 'QUALITY_CHANGED' as const,
      description:
        'The session\'s connection quality dropped or recovered (`quality`): the worst of mediasoup\'s scores of what it sends and receives, as the workers report them. Not sent for the first level a session reaches; after it every change is, UNKNOWN (no media left) included. Read Session.quality for the current one.',
    },
    DOMINANT_SPEAKER_CHANGED: {
      value: 'DOMINANT_SPEAKER_CHANGED' as const,
      description:
        'Another of the audio tracks this session pulls is now the dominant speaker (`speaker`, carried on `mid`): mediasoup\'s active speaker detection over the audio levels publishers send, every 300 ms at most. Sent only when it changes; nothing when everyone stops speaking.',
    },
    MOVE_REQUESTED: {
      value: 'MOVE_REQUESTED' as const,
      description:
        'The node that holds the session asks its client to move (`moveReason`, e.g. DRAINING before a restart): open a new PeerConnection and resumeSession with the resume secret, at `moveTo` (another node of the same region with room) or at any node. The node closes what has not moved by its drain deadline. The SDK moves by itself (docs/lifecycle.md).',
    },
    MOVED: {
      value: 'MOVED' as const,
      description: 'The session was resumed on another PeerConnection (resumeSession), perhaps on another node (`moveTo`): this PeerConnection is over, the session goes on. Events come from where it lives now.',
    },
    CLOSED: { value: 'CLOSED' as const, description: 'The session is closed; nothing more will come.' },
  },
});

export const ConnectionQualityEnum = builder.enumType('ConnectionQuality', {
  description:
    'How well a session\'s media gets through, from mediasoup\'s stream scores (0 to 10, from loss and retransmissions): the worst of what the session sends (its unmuted pushed tracks) and receives (its pulled tracks).',
  values: {
    EXCELLENT: { value: 'EXCELLENT' as const, description: 'Score 9 or 10: loss below about 2 %.' },
    GOOD: { value: 'GOOD' as const, description: 'Score 7 or 8: loss up to about 10 %.' },
    POOR: { value: 'POOR' as const, description: 'Score 1 to 6: heavy loss; video freezes or drops layers.' },
    LOST: { value: 'LOST' as const, description: 'Score 0: no media arrives (the publisher stopped sending, or the link is gone).' },
    UNKNOWN: { value: 'UNKNOWN' as const, description: 'No media yet, or none left (every track closed or paused), so nothing to judge.' },
  },
});

export const DataChannelEndReasonEnum = builder.enumType('DataChannelEndReason', {
  description: 'Why a subscribed data channel ended (DATA_CHANNEL_ENDED).',
  values: {
    SOURCE_ENDED: {
      value: 'SOURCE_ENDED' as const,
      description: 'The publisher closed the channel, or its session or node ended.',
    },
    OVERFLOW: {
      value: 'OVERFLOW' as const,
      description:
        'This subscriber could not keep up with a reliable channel: the SFU\'s send buffer towards it was full and a message was dropped, so the SFU ended the subscription rather than leave a silent gap. Messages may be missing from the first one the SFU could not buffer (a subscriber that was slow rather than stalled may still get a few later ones before the close); subscribe again and resynchronise.',
    },
  },
});

export const MoveReasonEnum = builder.enumType('MoveReason', {
  description: 'Why a node asks a session to move (MOVE_REQUESTED).',
  values: {
    DRAINING: { value: 'DRAINING' as const, description: 'The node is stopping (SIGTERM): it takes no new sessions and closes what is left at DRAIN_TIMEOUT_MS.' },
  },
});
