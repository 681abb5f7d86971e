import { describe, expect, it } from 'vitest';
import { SwitchyardError } from '../../src/errors.js';
import { transition, type NegotiationEvent, type NegotiationState } from '../../src/session/negotiation.js';

describe('the negotiation state machine', () => {
  const cases: [NegotiationState, NegotiationEvent, NegotiationState | 'NEGOTIATION_CONFLICT'][] = [
    ['stable', 'client-offer', 'stable'],
    ['stable', 'sfu-offer', 'have-local-offer'],
    ['stable', 'client-answer', 'NEGOTIATION_CONFLICT'],
    ['have-local-offer', 'client-answer', 'stable'],
    ['have-local-offer', 'sfu-offer', 'have-local-offer'],
    ['have-local-offer', 'client-offer', 'NEGOTIATION_CONFLICT'],
  ];

  it.each(cases)('%s + %s -> %s', (state, event, expected) => {
    if (expected === 'NEGOTIATION_CONFLICT') {
      expect(() => transition(state, event)).toThrow(SwitchyardError);
      try {
        transition(state, event);
      } catch (error) {
        expect((error as SwitchyardError).code).toBe('NEGOTIATION_CONFLICT');
      }
    } else {
      expect(transition(state, event)).toBe(expected);
    }
  });

  it('covers every pair of state and event', () => {
    const states: NegotiationState[] = ['stable', 'have-local-offer'];
    const events: NegotiationEvent[] = ['client-offer', 'sfu-offer', 'client-answer'];
    for (const state of states) for (const event of events) expect(cases.some(([s, e]) => s === state && e === event)).toBe(true);
  });
});
