import { gqlOk } from './graphql.js';
import { fakeCamera } from './media.js';
import { TestPeer } from './peer.js';
import { timeGraphQLCalls } from './delayProxy.js';

/**
 * One journey of calls on a node's own sessions, `rounds` times: create two
 * sessions, publish a camera, pull it, close the pulled track, read the
 * session, close both. Answers the median time of each root field (ms).
 */
export async function callJourney(url: string, rounds: number): Promise<Map<string, number>> {
  const timing = timeGraphQLCalls();
  const stops: (() => void)[] = [];
  try {
    for (let round = 0; round < rounds; round += 1) {
      const camera = fakeCamera(160, 120, 15);
      const publisher = new TestPeer(url);
      const subscriber = new TestPeer(url);
      stops.push(camera.stop, () => publisher.stop(), () => subscriber.stop());
      await publisher.createSession();
      await publisher.push([{ track: camera.track, name: 'camera' }]);
      await subscriber.createSession();
      const [pulled] = await subscriber.pull([{ sessionId: publisher.sessionId, trackName: 'camera' }]);
      await subscriber.close([pulled!.mid!]);
      await gqlOk(url, 'query($id: ID!) { session(id: $id) { id tracks { mid } } }', { id: subscriber.sessionId });
      for (const peer of [subscriber, publisher]) await gqlOk(url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: peer.sessionId });
    }
  } finally {
    timing.stop();
    for (const stop of stops) stop();
  }
  const byField = new Map<string, number[]>();
  for (const call of timing.calls) byField.set(call.field, [...(byField.get(call.field) ?? []), call.ms]);
  return new Map([...byField].map(([field, times]) => [field, times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!]));
}
