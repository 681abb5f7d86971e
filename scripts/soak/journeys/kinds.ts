/**
 * Which journeys there are and how often each is chosen. The everyday ones
 * (everyday.ts) are what real clients do and make most of the mix; the
 * hardening ones (hardening.ts) push at the edges issue 23 bounded, often
 * enough to meet them every few minutes, rarely enough that the run still
 * looks like a service in use.
 */
import type { Rng } from '../../../test/helpers/fuzz.js';

export type EverydayKind = 'publish' | 'pull' | 'leave-politely' | 'leave-abruptly' | 'vanish' | 'never-connect';
export type HardeningKind = 'hoard' | 'silent-no-consent' | 'list-flood';
export type JourneyKind = EverydayKind | HardeningKind;

/** How often each journey is chosen, relative to the others: the hardening ones are about a ninth of the mix. */
const JOURNEY_WEIGHTS: readonly [JourneyKind, number][] = [
  ['publish', 3],
  ['pull', 3],
  ['leave-politely', 1.5],
  ['leave-abruptly', 1.5],
  ['vanish', 1],
  ['never-connect', 1],
  ['hoard', 0.5],
  ['silent-no-consent', 0.5],
  ['list-flood', 0.4],
];

/** Each runs at least once per soak (runner.ts launches those not yet chosen early), so a short run reaches every edge. */
export const HARDENING_KINDS: readonly HardeningKind[] = ['hoard', 'silent-no-consent', 'list-flood'];

/** A kind from the weights, leaving out `excluded` (journeys this machine cannot do). */
export function pickJourney(r: Rng, excluded: ReadonlySet<JourneyKind> = new Set()): JourneyKind {
  const weights = JOURNEY_WEIGHTS.filter(([kind]) => !excluded.has(kind));
  const total = weights.reduce((sum, [, weight]) => sum + weight, 0);
  let x = r.next() * total;
  for (const [kind, weight] of weights) {
    x -= weight;
    if (x < 0) return kind;
  }
  return 'publish';
}
