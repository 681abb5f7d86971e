import { describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/principal.js';
import { SubscriptionQuotas } from '../../src/auth/SubscriptionQuotas.js';
import { SwitchyardError } from '../../src/errors.js';

const client = (owner: string, appId = 'acme', tokenId = `token-of-${owner}`): Principal => ({
  kind: 'client',
  appId,
  tokenId,
  owner,
  grant: { createSession: false, publish: null, pull: null, sessions: [], adapters: false, record: false },
  expiresAt: Date.now() + 60_000,
});
const backend = (appId = 'acme'): Principal => ({ kind: 'app', appId });

function refusal(take: () => unknown): string {
  try {
    take();
  } catch (error) {
    if (error instanceof SwitchyardError) return `${error.code}: ${error.message}`;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('SubscriptionQuotas', () => {
  const settings = { maxConnectionsPerSubject: 2, maxSubscriptionsPerSubject: 3, maxConnectionsPerApp: 4, maxSubscriptionsPerApp: 5 };

  it('caps a subject, whatever token of it asks, and names the setting', () => {
    const quotas = new SubscriptionQuotas(settings);
    quotas.openConnection(client('zoe'));
    quotas.openConnection(client('zoe', 'acme', 'another token'));
    expect(refusal(() => quotas.openConnection(client('zoe')))).toMatch(/^LIMIT_EXCEEDED: .*\(MAX_CONNECTIONS_PER_SUBJECT\)/);
    // Another subject, or the same name in another app, is someone else.
    quotas.openConnection(client('yann'));
    quotas.openConnection(client('zoe', 'beta'));
    expect(quotas.held('connection', client('zoe'))).toEqual({ subject: 2, app: 3 });
  });

  it('counts an app backend per app only, together with its client tokens', () => {
    const quotas = new SubscriptionQuotas(settings);
    for (let i = 0; i < 3; i += 1) quotas.startSubscription(backend());
    quotas.startSubscription(client('zoe'));
    quotas.startSubscription(client('yann'));
    expect(refusal(() => quotas.startSubscription(backend()))).toMatch(/^LIMIT_EXCEEDED: .*\(MAX_SUBSCRIPTIONS_PER_APP\) is reached for app acme/);
    expect(refusal(() => quotas.startSubscription(client('ann')))).toMatch(/MAX_SUBSCRIPTIONS_PER_APP/);
    quotas.startSubscription(backend('beta'));
  });

  it('gives a place back once per release, however often release is called', () => {
    const quotas = new SubscriptionQuotas(settings);
    const releases = [quotas.startSubscription(client('zoe')), quotas.startSubscription(client('zoe')), quotas.startSubscription(client('zoe'))];
    expect(refusal(() => quotas.startSubscription(client('zoe')))).toMatch(/MAX_SUBSCRIPTIONS_PER_SUBJECT/);
    const release = releases[0]!;
    release();
    release();
    expect(quotas.held('subscription', client('zoe'))).toEqual({ subject: 2, app: 2 });
    const again = quotas.startSubscription(client('zoe'));
    expect(refusal(() => quotas.startSubscription(client('zoe')))).toMatch(/MAX_SUBSCRIPTIONS_PER_SUBJECT/);
    for (const other of [again, ...releases]) other();
    expect(quotas.held('subscription', client('zoe'))).toEqual({ subject: 0, app: 0 });
  });
});
