/**
 * Event delivery benchmark (npm run bench:events).
 *
 * 1. Throughput: SUBSCRIPTIONS trackEvents subscriptions over graphql-ws
 *    (CONNECTIONS WebSockets), EVENTS events published on the node's bus;
 *    events per second delivered to all subscribers together.
 * 2. Latency: a real libwebrtc client calls pushTracks; time from sending the
 *    mutation to the PUBLISHED event at a subscriber, with the same
 *    subscriptions open. Median and p99 over LATENCY_RUNS.
 */
import { DEVELOPMENT_APP } from '../src/auth/principal.js';
import wrtc from '@roamhq/wrtc';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startSwitchyard } from '../src/app.js';
import { loadConfig } from '../src/config/config.js';
import type { TrackView } from '../src/events/TrackEventBus.js';

const SUBSCRIPTIONS = Number(process.env.SUBSCRIPTIONS ?? 1000);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 10);
const EVENTS = Number(process.env.EVENTS ?? 200);
const LATENCY_RUNS = Number(process.env.LATENCY_RUNS ?? 100);

const node = await startSwitchyard(loadConfig({ PORT: '0', HOST: '127.0.0.1', WORKERS: '1', RTC_PORT: '47000', LOG_LEVEL: 'silent' }));
const wsUrl = `${node.url.replace('http', 'ws')}/graphql`;
const clients: Client[] = Array.from({ length: CONNECTIONS }, () =>
  createClient({ url: wsUrl, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0 }),
);

let received = 0;
const publishedAt = new Map<string, (at: number) => void>();
const disposers: (() => void)[] = [];
for (let i = 0; i < SUBSCRIPTIONS; i += 1) {
  const client = clients[i % CONNECTIONS]!;
  disposers.push(
    client.subscribe(
      { query: 'subscription { trackEvents(filter: { tags: ["bench"] }) { cursor type track { sessionId name } } }' },
      {
        next: ({ data }) => {
          received += 1;
          const e = (data as { trackEvents: { type: string; track: { name: string } } }).trackEvents;
          if (e.type === 'PUBLISHED') publishedAt.get(e.track.name)?.(performance.now());
        },
        error: (error) => console.error('subscription error', error),
        complete: () => undefined,
      },
    ),
  );
}
// Let every subscription reach the server.
await new Promise((resolve) => setTimeout(resolve, 1500));

// --- throughput ---
const view: TrackView = { appId: DEVELOPMENT_APP.id, owner: null, sessionId: 'bench', name: 'x', kind: 'audio', status: 'ACTIVE', tags: ['bench'], simulcastRids: [], publishedAt: new Date(), muted: false };
received = 0;
const started = performance.now();
for (let i = 0; i < EVENTS; i += 1) node.sessions.trackEvents.publish(i % 2 ? 'ACTIVE' : 'INACTIVE', { ...view, name: `t${i}` });
const expected = EVENTS * SUBSCRIPTIONS;
while (received < expected && performance.now() - started < 120_000) await new Promise((resolve) => setTimeout(resolve, 5));
const seconds = (performance.now() - started) / 1000;
const delivered = received;
const throughput = delivered / seconds;

// --- latency: pushTracks -> PUBLISHED at a subscriber ---
const gql = async (query: string, variables: Record<string, unknown>) => {
  const res = await fetch(`${node.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as { data?: any; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
};
const latencies: number[] = [];
const source = new wrtc.nonstandard.RTCAudioSource();
for (let run = 0; run < LATENCY_RUNS; run += 1) {
  const pc = new wrtc.RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  pc.createDataChannel('bench');
  // The SDP comes from the offer object: reading pc.localDescription in
  // @roamhq/wrtc races ICE gathering and can crash the process (SdpSerialize).
  const first = await pc.createOffer();
  await pc.setLocalDescription(first);
  const created = await gql('mutation($sdp: String!) { createSession(input: { sessionDescription: { type: OFFER, sdp: $sdp } }) { session { id } sessionDescription { sdp } } }', { sdp: first.sdp });
  await pc.setRemoteDescription({ type: 'answer', sdp: created.createSession.sessionDescription.sdp });
  const transceiver = pc.addTransceiver(source.createTrack(), { direction: 'sendonly' });
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  const name = `mic-${run}`;
  const arrived = new Promise<number>((resolve) => publishedAt.set(name, resolve));
  const sent = performance.now();
  await gql('mutation($input: PushTracksInput!) { pushTracks(input: $input) { tracks { error { code } } } }', {
    input: { sessionId: created.createSession.session.id, sessionDescription: { type: 'OFFER', sdp: offer.sdp }, tracks: [{ mid: transceiver.mid, trackName: name, tags: ['bench'] }] },
  });
  latencies.push((await arrived) - sent);
  await gql('mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: created.createSession.session.id });
  pc.close();
}
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;

console.log('\n| measure | value |');
console.log('| --- | --- |');
console.log(`| subscriptions (WebSockets) | ${SUBSCRIPTIONS} (${CONNECTIONS}) |`);
console.log(`| events published | ${EVENTS} |`);
console.log(`| events delivered | ${delivered} of ${expected} in ${seconds.toFixed(2)} s |`);
console.log(`| delivered events per second | ${Math.round(throughput)} |`);
console.log(`| pushTracks -> PUBLISHED, median (n=${latencies.length}) | ${pct(50).toFixed(1)} ms |`);
console.log(`| pushTracks -> PUBLISHED, p99 | ${pct(99).toFixed(1)} ms |`);

for (const dispose of disposers) dispose();
for (const client of clients) await client.dispose();
await node.stop();
process.exit(0);
