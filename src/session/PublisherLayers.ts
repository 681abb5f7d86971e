import type { LayerDemand } from '../media/layerDemand.js';
import type { PublishedTrack } from '../tracks/PublishedTrack.js';
import type { TrackRegistry } from '../tracks/TrackRegistry.js';
import type { Session } from './Session.js';

/**
 * Tells publishers which simulcast layers of their tracks anyone watches, so
 * that they stop sending the others (the SDK turns those encodings off with
 * RTCRtpSender.setParameters). The demand comes from LayerDemand; this class
 * turns it into RIDs, the publisher's session state and a LAYERS_IN_DEMAND
 * event on the publisher's session, naming the transceiver by its mid.
 */
export class PublisherLayers {
  /** Simulcast tracks followed, by producer id. */
  private readonly byProducer = new Map<string, PublishedTrack>();

  constructor(
    private readonly demand: LayerDemand,
    tracks: TrackRegistry,
    private readonly sessionById: (id: string) => Session | undefined,
    private readonly announce: (session: Session, mid: string, rids: string[]) => void,
  ) {
    tracks.on('change', (type, track) => {
      if (track.simulcastRids.length < 2) return;
      if (type === 'PUBLISHED' || type === 'MOVED') this.follow(track);
      if (type === 'UNPUBLISHED') this.forget(track);
    });
    demand.on('change', (producerId) => this.onChange(producerId));
  }

  /** RIDs of the track's layers someone watches (all of them for a track not followed: it sends them all). */
  ridsInDemand(track: PublishedTrack): string[] {
    const highest = this.demand.highest(track.producer.id);
    return highest === undefined ? [...track.simulcastRids] : track.simulcastRids.slice(0, highest + 1);
  }

  private follow(track: PublishedTrack): void {
    this.byProducer.set(track.producer.id, track);
    this.demand.track(track.producer.id, track.simulcastRids.length);
    // A track withdrawn for a move is never UNPUBLISHED here: its producer's close is the end.
    track.producer.observer.once('close', () => this.forget(track));
  }

  private forget(track: PublishedTrack): void {
    this.byProducer.delete(track.producer.id);
    this.demand.forget(track.producer.id);
  }

  private onChange(producerId: string): void {
    const track = this.byProducer.get(producerId);
    if (!track) return;
    const session = this.sessionById(track.sessionId);
    const mid = session?.transceivers.find((t) => t.pushed === track)?.section.mid;
    if (session && mid !== undefined) this.announce(session, mid, this.ridsInDemand(track));
  }
}
