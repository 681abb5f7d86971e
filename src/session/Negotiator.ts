import type { types } from 'mediasoup';
import { ErrorCode, negotiationConflict } from '../errors.js';
import { clientCapabilities, codecMatches, mapProducer, mergeCapabilities, type ProducerMapping } from '../sdp/rtpMapping.js';
import type { Direction, RemoteDescription, RemoteSection } from '../sdp/types.js';
import type { LocalSection } from '../sdp/write.js';
import type { PublishedTrack } from '../tracks/PublishedTrack.js';
import type { TrackRegistry } from '../tracks/TrackRegistry.js';
import { transition } from './negotiation.js';
import { planClientOffer, type OfferIntents, type SectionPlan } from './offerPlan.js';
import type { Session, Transceiver } from './Session.js';
import type { TrackResults } from './trackResults.js';
import type { DescriptionInput, PullRequest } from './types.js';
import { receiveOnly } from './bidirectional.js';
import { checkOfferBounds, DEFAULT_SESSION_BOUNDS, inUse, type SessionBounds } from './bounds.js';

/** Makes the transceiver that sends a pulled track on the client's offered m-section (Puller.consumeOffered); undefined when the track's result says why not. */
export type ConsumeOffered = (session: Session, request: PullRequest, offered: RemoteSection, results: TrackResults, index: number) => Promise<Transceiver | undefined>;

/**
 * Applies the client's descriptions to a session: answers its offers
 * (publishing, keeping and closing what the m-sections carry) and takes its
 * answers to the SFU's offers (resuming pulled tracks, publishing what it
 * sends on m-sections the SFU offered). Validates and creates first, commits
 * last: a failure leaves the session as it was.
 */
export class Negotiator {
  constructor(
    private readonly tracks: TrackRegistry,
    /** Stops the media of a transceiver that closes (unpublish or close its consumer). */
    private readonly stopMedia: (transceiver: Transceiver) => void,
    /** A pulled track the client's answer did not take: its mid now carries nothing. */
    private readonly trackEnded: (session: Session, mid: string) => void,
    /**
     * mediasoup's keyFrameRequestDelay for video producers: key-frame requests
     * from any number of subscribers within this long cost the publisher one.
     */
    private readonly keyFrameRequestDelayMs: number,
    private readonly consumeOffered: ConsumeOffered,
    private readonly bounds: SessionBounds = DEFAULT_SESSION_BOUNDS,
  ) {}

  /** A producer for what the client sends on one m-section. */
  private produce(session: Session, mapping: ProducerMapping, trackName: string): Promise<types.Producer> {
    return session.transport.produce({
      kind: mapping.kind,
      rtpParameters: mapping.rtpParameters,
      ...(mapping.kind === 'video' ? { keyFrameRequestDelay: this.keyFrameRequestDelayMs } : {}),
      appData: { sessionId: session.id, trackName },
    });
  }

  /** DTLS: the first description that carries the client's identity sets up the transport. */
  private async connectTransport(session: Session, description: RemoteDescription): Promise<void> {
    if (session.localDtlsRole || !description.transport) return;
    const { fingerprint, setup } = description.transport;
    // Roles are complementary. When the client offers actpass the SFU answers
    // active (RFC 5763 section 5), so only a client that chose active is the DTLS client.
    const remoteRole = setup === 'active' ? 'client' : 'server';
    await session.transport.connect({
      dtlsParameters: {
        role: remoteRole,
        fingerprints: [{ algorithm: fingerprint.algorithm as types.FingerprintAlgorithm, value: fingerprint.value }],
      },
    });
    session.remoteFingerprint = fingerprint;
    session.localDtlsRole = remoteRole === 'client' ? 'server' : 'client';
  }

  async applyClientOffer(
    session: Session,
    offer: RemoteDescription,
    intents: OfferIntents,
  ): Promise<{ answer: DescriptionInput; results: TrackResults }> {
    const nextState = transition(session.negotiation, 'client-offer');
    const plan = planClientOffer(session, offer, intents);
    // Before anything is created: an offer (autoDiscover above all) may name more tracks than a session may hold.
    checkOfferBounds(this.bounds, { sections: plan.sections.length, transceivers: plan.sections.filter(carries).length });
    const setup = session.localSetup(true, offer.transport?.setup);
    const iceRestart = isIceRestart(session, offer);
    const created: PublishedTrack[] = [];
    const next: Transceiver[] = [];
    const toClose: Transceiver[] = [];
    try {
      await this.connectTransport(session, offer);
      for (const sectionPlan of plan.sections) {
        next.push(await this.answerSection(session, sectionPlan, plan.results, created, toClose));
      }
      // New ICE credentials in an offer restart ICE (RFC 8839 section 4.4.1.1.1): the answer carries ours, new too.
      if (iceRestart) {
        await session.transport.restartIce();
        session.log.info('ICE restarted by the client\'s offer');
      }
    } catch (error) {
      for (const track of created) track.producer.close();
      for (const t of next) if (isNewPull(session, t)) t.pulled?.consumer.close();
      throw error;
    }
    const consumed = next.filter((t) => isNewPull(session, t)).map((t) => t.pulled?.consumer as types.Consumer);

    // Commit: nothing below can fail half-way.
    for (const t of toClose) this.stopMedia(t);
    for (const track of created) this.tracks.publish(track, session.claimName(track.name));
    session.transceivers = next;
    session.negotiation = nextState;
    rememberIce(session, offer);
    session.clientCapabilities = mergeCapabilities(session.clientCapabilities, clientCapabilities(offer));
    const sdp = session.describe(setup);
    // Pulls answered in this offer send once the client applies the answer; mediasoup asks for a key frame when DTLS is up.
    for (const consumer of consumed) await resumeConsumer(consumer);
    return { answer: { type: 'answer', sdp }, results: plan.results };
  }

  private async answerSection(
    session: Session,
    { offered, action }: SectionPlan,
    results: TrackResults,
    created: PublishedTrack[],
    toClose: Transceiver[],
  ): Promise<Transceiver> {
    switch (action.type) {
      case 'keep': {
        const { transceiver } = action;
        const section = { ...transceiver.section, direction: keptDirection(transceiver, offered) };
        return { ...transceiver, section };
      }
      case 'close':
        toClose.push(action.transceiver);
        return { section: { ...action.transceiver.section, direction: 'inactive', rejected: action.reject, outgoing: undefined } };
      case 'idle':
        return { section: idleSection(offered, session.router.rtpCapabilities, action.reject) };
      case 'data':
        return { section: session.dataSection(offered.mid) };
      case 'consume': {
        const transceiver = await this.consumeOffered(session, action.request, offered, results, action.resultIndex);
        return transceiver ?? { section: idleSection(offered, session.router.rtpCapabilities, false) };
      }
      case 'produce': {
        const mapping = mapProducer(offered, session.router.rtpCapabilities);
        if (!mapping) {
          results.fail(action.resultIndex, ErrorCode.INVALID_SDP, `m-section ${offered.mid} offers no codec the SFU routes`);
          return { section: idleSection(offered, session.router.rtpCapabilities, true) };
        }
        let producer: types.Producer;
        try {
          producer = await this.produce(session, mapping, action.trackName);
        } catch (error) {
          // mediasoup's own words (a worker's channel error, its parameter checks) stay in the log; the client learns which m-section.
          session.log.warn({ mid: offered.mid, err: error }, 'mediasoup refused to receive what an m-section offers');
          results.fail(action.resultIndex, ErrorCode.INVALID_SDP, `m-section ${offered.mid}: the SFU could not receive what it offers (its codecs, SSRCs or header extensions)`);
          return { section: idleSection(offered, session.router.rtpCapabilities, true) };
        }
        const track = this.newTrack(session, action.trackName, action.tags, mapping, producer);
        created.push(track);
        const section: LocalSection = {
          mid: offered.mid,
          kind: mapping.kind,
          direction: 'recvonly',
          rejected: false,
          codecs: mapping.codecs,
          headerExtensions: mapping.headerExtensions,
        };
        if (mapping.rids.length > 0) section.receiveRids = mapping.rids;
        return { section, pushed: track };
      }
    }
  }

  async applyClientAnswer(session: Session, answer: RemoteDescription): Promise<void> {
    const nextState = transition(session.negotiation, 'client-answer');
    const current = session.transceivers;
    if (answer.sections.length !== current.length || answer.sections.some((s, i) => s.mid !== current[i]?.section.mid)) {
      throw negotiationConflict('the answer does not match the SFU\'s latest offer (m-sections differ); answer the latest offer');
    }
    await this.connectTransport(session, answer);

    const published = await this.publishAnswered(session, current, answer);
    const resumed: types.Consumer[] = [];
    const notTaken: string[] = [];
    session.transceivers = current.map((transceiver, index) => {
      const answered = answer.sections[index] as RemoteSection;
      if (!transceiver.pending) return transceiver;
      if (transceiver.pendingPush) return published.get(transceiver) ?? idleAfterAnswer(transceiver);
      if (transceiver.section.kind === 'application' && !answered.rejected) {
        return { section: transceiver.section };
      }
      if (answered.rejected || !transceiver.pulled) {
        // pullTracks already reported this pull: the client declining its m-section ends it, and the app hears so.
        if (transceiver.pulled && !transceiver.pulled.ended) notTaken.push(answered.mid);
        transceiver.pulled?.consumer.close();
        if (transceiver.pushed) this.stopMedia({ section: transceiver.section, pushed: transceiver.pushed });
        return { section: { ...transceiver.section, rejected: true, direction: 'inactive', outgoing: undefined } };
      }
      if (!receives(answered)) {
        // An idle transceiver the client reused without setting it to recvonly (or, "#name", sendrecv): it would drop the media.
        session.log.info({ mid: answered.mid }, 'the client answered a pulled track without receiving it');
        transceiver.pulled.consumer.close();
        notTaken.push(answered.mid);
        if (transceiver.pushed) return receiveOnly(transceiver);
        return { section: { ...transceiver.section, direction: 'inactive', outgoing: undefined } };
      }
      // The source may have gone while the offer waited for this answer: TRACK_ENDED was sent, nothing to resume.
      if (!transceiver.pulled.ended) resumed.push(transceiver.pulled.consumer);
      return transceiver.pushed ? { section: transceiver.section, pushed: transceiver.pushed, pulled: transceiver.pulled } : { section: transceiver.section, pulled: transceiver.pulled };
    });
    session.negotiation = nextState;
    session.pendingOffer = undefined;
    rememberIce(session, answer);
    for (const mid of notTaken) this.trackEnded(session, mid);
    session.clientCapabilities = mergeCapabilities(session.clientCapabilities, clientCapabilities(answer));
    for (const consumer of resumed) await resumeConsumer(consumer);
  }

  /**
   * Produces what the client now sends on m-sections the SFU offered for
   * publishing. A section the client did not take up stays unpublished.
   */
  private async publishAnswered(
    session: Session,
    current: Transceiver[],
    answer: RemoteDescription,
  ): Promise<Map<Transceiver, Transceiver>> {
    const published = new Map<Transceiver, Transceiver>();
    for (const [index, transceiver] of current.entries()) {
      const request = transceiver.pendingPush;
      const answered = answer.sections[index];
      if (!transceiver.pending || !request || !answered) continue;
      const sends = !answered.rejected && (answered.direction === 'sendonly' || answered.direction === 'sendrecv');
      const mapping = sends ? mapProducer(answered, session.router.rtpCapabilities) : undefined;
      if (!mapping) {
        session.log.info({ mid: answered.mid }, 'the client did not send on an m-section offered for publishing');
        continue;
      }
      try {
        const producer = await this.produce(session, mapping, request.trackName);
        const track = this.newTrack(session, request.trackName, request.tags, mapping, producer);
        this.tracks.publish(track, session.claimName(track.name));
        published.set(transceiver, {
          section: { ...transceiver.section, codecs: mapping.codecs, headerExtensions: mapping.headerExtensions },
          pushed: track,
        });
      } catch (error) {
        session.log.warn({ mid: answered.mid, err: error }, 'could not publish what the client sends');
      }
    }
    return published;
  }

  private newTrack(
    session: Session,
    name: string,
    tags: string[],
    mapping: ProducerMapping,
    producer: types.Producer,
  ): PublishedTrack {
    return {
      appId: session.ownership.appId,
      owner: session.ownership.owner,
      sessionId: session.id,
      name,
      kind: mapping.kind,
      tags,
      simulcastRids: mapping.rids,
      publishedAt: new Date(),
      producer,
      router: session.router,
      status: 'WAITING',
      muted: false,
    };
  }
}

/** A transceiver of the next description whose pull this offer made (planClientOffer's 'consume'). */
const isNewPull = (session: Session, t: Transceiver) => Boolean(t.pulled) && !session.transceivers.some((old) => old.pulled === t.pulled);

/** Starts a pulled track's media. A source can go away during these awaits; its consumer is then closed and needs nothing. */
/** A planned m-section that will carry a track once the offer is answered. */
function carries({ action }: SectionPlan): boolean {
  if (action.type === 'produce' || action.type === 'consume') return true;
  return action.type === 'keep' && inUse(action.transceiver);
}

async function resumeConsumer(consumer: types.Consumer): Promise<void> {
  if (consumer.closed) return;
  try {
    await consumer.resume();
  } catch (error) {
    if (!consumer.closed) throw error;
  }
  await consumer.requestKeyFrame().catch(() => undefined);
}

const receives = (section: RemoteSection) => section.direction === 'recvonly' || section.direction === 'sendrecv';

/** An offer whose ICE credentials differ from the client's last ones restarts ICE. */
function isIceRestart(session: Session, offer: RemoteDescription): boolean {
  const known = session.remoteIce;
  const offered = offer.transport;
  return Boolean(known && offered && (offered.iceUfrag !== known.ufrag || offered.icePwd !== known.pwd));
}

function rememberIce(session: Session, description: RemoteDescription): void {
  if (description.transport) session.remoteIce = { ufrag: description.transport.iceUfrag, pwd: description.transport.icePwd };
}

/** The SFU's direction for an m-section it keeps, given what the client now offers. */
function keptDirection(transceiver: Transceiver, offered: RemoteSection): Direction {
  if (offered.rejected) return 'inactive';
  const clientSends = offered.direction === 'sendonly' || offered.direction === 'sendrecv';
  const clientReceives = offered.direction === 'recvonly' || offered.direction === 'sendrecv';
  const sfuReceives = Boolean(transceiver.pushed) && clientSends;
  const sfuSends = Boolean(transceiver.pulled && !transceiver.pulled.ended) && clientReceives;
  if (transceiver.pushed || transceiver.pulled) return sfuReceives && sfuSends ? 'sendrecv' : sfuReceives ? 'recvonly' : sfuSends ? 'sendonly' : 'inactive';
  return transceiver.section.kind === 'application' ? 'sendrecv' : 'inactive';
}

/** An m-section the SFU offered for publishing that the client did not send on. */
function idleAfterAnswer(transceiver: Transceiver): Transceiver {
  return { section: { ...transceiver.section, direction: 'inactive' } };
}

/** An m-section that carries nothing: answered inactive with a codec the client offered. */
function idleSection(offered: RemoteSection, router: types.RtpCapabilities, rejected: boolean): LocalSection {
  const kind = offered.kind;
  const routable = offered.codecs.filter((codec) => router.codecs?.some((cap) => cap.kind === kind && codecMatches(codec, cap)));
  const codecs = (routable.length > 0 ? routable : offered.codecs).slice(0, 1).map((c) => ({ ...c, rtcpFeedback: [] }));
  return { mid: offered.mid, kind, direction: 'inactive', rejected, codecs, headerExtensions: [] };
}
