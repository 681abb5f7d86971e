/**
 * The journeys of the soak, each one peer doing one thing, chosen at random
 * from a seed (kinds.ts): the everyday ones (everyday.ts) and the hardening
 * ones (hardening.ts). What they share lives in context.ts; when and how many
 * run is runner.ts's business.
 */
import type { Rng } from '../../../test/helpers/fuzz.js';
import type { SoakNode } from '../node.js';
import { sweepStaleTables, udpDropUnavailable } from '../udpDrop.js';
import { errorMessage } from '../util.js';
import { JourneyContext, type JourneyHost } from './context.js';
import { briefly, neverConnect, publish, pull, vanish } from './everyday.js';
import { hoard, listFlood, silentWithoutConsent } from './hardening.js';
import type { JourneyKind } from './kinds.js';

export type { JourneyHost } from './context.js';
export { HARDENING_KINDS, pickJourney, type JourneyKind } from './kinds.js';

/** Of the peers, how many also hold trackEvents and sessionEvents over graphql-ws (and close them). */
const SUBSCRIPTION_PROBABILITY = 0.4;

export class Journeys {
  private readonly ctx: JourneyContext;
  /** Kinds this machine cannot run, with the reason, for the report. */
  readonly skipped = new Map<JourneyKind, string>();
  /** What the runner should print at the start (nftables tables a crashed soak left, removed). */
  readonly notes: string[] = [];

  constructor(node: SoakNode, host: JourneyHost) {
    this.ctx = new JourneyContext(node, host);
    const noDrop = udpDropUnavailable();
    if (noDrop) this.skipped.set('silent-no-consent', noDrop);
    else {
      const swept = sweepStaleTables();
      if (swept.length > 0) this.notes.push(`removed the nftables tables of earlier soaks whose process is gone: ${swept.join(' ')}`);
    }
  }

  pendingChecks(): Promise<void>[] {
    return this.ctx.pendingChecks();
  }

  get pendingCheckCount(): number {
    return this.ctx.pendingCheckCount;
  }

  closeAll(): Promise<void> {
    return this.ctx.closeAll();
  }

  /**
   * One journey of one peer, start to end: what goes wrong is reported to the
   * host as a failure of this peer. Returns the kind done: a journey that
   * needs a publisher and found none publishes instead; null when the churn stopped first.
   */
  async run(chosen: JourneyKind, id: number, r: Rng): Promise<JourneyKind | null> {
    const { ctx } = this;
    const state = ctx.newPeer(`${chosen}#${id}`);
    const subscribe = r.next() < SUBSCRIPTION_PROBABILITY;
    let done: JourneyKind | null = chosen;
    try {
      switch (chosen) {
        case 'publish':
          await publish(ctx, state, r, subscribe);
          break;
        case 'pull':
          done = await pull(ctx, state, r, subscribe);
          break;
        case 'leave-politely':
          await briefly(ctx, state, r, subscribe, 'polite', id);
          break;
        case 'leave-abruptly':
          await briefly(ctx, state, r, subscribe, 'abrupt', id);
          break;
        case 'vanish':
          await vanish(ctx, state, r, subscribe);
          break;
        case 'never-connect':
          await neverConnect(ctx, state, subscribe);
          break;
        case 'hoard':
          done = await hoard(ctx, state, r);
          break;
        case 'silent-no-consent':
          done = await silentWithoutConsent(ctx, state, r);
          break;
        case 'list-flood':
          await listFlood(ctx, state, r);
          break;
      }
    } catch (error) {
      ctx.host.fail(state.name, errorMessage(error));
      ctx.release(state);
      await ctx.disposeSubscriptions(state);
    } finally {
      ctx.release(state);
      if (done) ctx.host.finished(done);
    }
    return done;
  }
}
