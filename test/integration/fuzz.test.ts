import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { ErrorCode } from '../../src/errors.js';
import { takeCensus } from '../../src/media/census.js';
import { mutateSdp, randomGraphQLBody, rng, type Rng } from '../helpers/fuzz.js';
import { gqlOk } from '../helpers/graphql.js';
import { startCall } from '../helpers/call.js';
import { TestPeer } from '../helpers/peer.js';
import { startTestServer } from '../helpers/server.js';

/**
 * Hostile input against a running node: mutated real browser SDPs through
 * every operation that takes one, and random GraphQL payloads. The seed is
 * fixed so that `npm test` is repeatable; explore with FUZZ_SEED=random (or a
 * number: reproduce a failure with the seed its message names) and
 * FUZZ_ITERATIONS, or `npm run fuzz` for many seeds.
 */
const SEED = process.env.FUZZ_SEED === 'random' ? Date.now() % 1_000_000 : Number(process.env.FUZZ_SEED ?? 20261124);
const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 1000);
const APP = { id: 'acme', secret: `acme-${'s'.repeat(40)}` };
const CONTRACT_CODES = new Set<string>(Object.values(ErrorCode));
const FIXTURES = join(import.meta.dirname, '../fixtures/sdp');

const CREATE = 'mutation($sdp: String!) { createSession(input: { sessionDescription: { type: OFFER, sdp: $sdp } }) { session { id } } }';
const PUSH = 'mutation($input: PushTracksInput!) { pushTracks(input: $input) { tracks { mid error { code } } } }';
const PULL = 'mutation($input: PullTracksInput!) { pullTracks(input: $input) { requiresImmediateRenegotiation sessionDescription { sdp } } }';
const RENEGOTIATE = 'mutation($input: RenegotiateInput!) { renegotiate(input: $input) { session { id } } }';
const CLOSE_TRACKS = 'mutation($input: CloseTracksInput!) { closeTracks(input: $input) { tracks { mid error { code } } } }';

let server: Switchyard;
const stops: (() => unknown)[] = [];

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  await server?.stop();
});

interface Answer {
  status: number;
  body: { data?: Record<string, any> | null; errors?: { message: string; extensions?: { code?: string } }[] } | undefined;
}

async function post(body: string, authorization: string | null = `Bearer ${APP.secret}`): Promise<Answer> {
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization === null ? {} : { authorization }) },
    body,
  });
  const text = await response.text();
  let parsed: Answer['body'];
  try {
    parsed = JSON.parse(text) as Answer['body'];
  } catch {
    parsed = undefined;
  }
  return { status: response.status, body: parsed };
}

function parseOr(text: string, fallback: unknown): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return fallback;
  }
}

const op = (query: string, variables: Record<string, unknown>) => post(JSON.stringify({ query, variables }));

describe('hostile input', () => {
  /** A call that carries media all along: the fuzzer pulls its track and must never disturb it. */
  let call: Awaited<ReturnType<typeof startCall>>;
  let publisher: TestPeer;
  let subscriber: TestPeer;

  beforeAll(async () => {
    // A budget no fuzzer reaches: refusals by the rate limit would stop inputs from going deep.
    server = await startTestServer({ WORKERS: '2', APPS: `${APP.id}:${APP.secret}`, MEDIA_WAIT_MS: '300', RATE_LIMIT_MUTATIONS_PER_SECOND: '100000' });
    call = await startCall(server.url, { credential: APP.secret, tags: ['room:fuzz'] });
    stops.push(() => call.stop());
    ({ publisher, subscriber } = call);
  });

  it(`never crashes, answers contract codes only and leaks no mediasoup object (seed ${SEED})`, { timeout: 240_000 }, async () => {
    const r: Rng = rng(SEED);
    const workerPids = server.pool.workers.map((w) => w.worker.pid);
    let workerDeaths = 0;
    server.pool.on('workerDied', () => (workerDeaths += 1));
    const before = await takeCensus(server.pool);

    // Sessions the fuzzer drives with real libwebrtc offers, and the SDPs it mutates.
    const targets: { peer: TestPeer; pushOffer: string }[] = [];
    for (let i = 0; i < 3; i += 1) {
      const peer = new TestPeer(server.url, APP.secret);
      stops.push(() => peer.stop());
      await peer.createSession();
      peer.pc.addTransceiver('video', { direction: 'sendonly' });
      peer.pc.addTransceiver('audio', { direction: 'sendonly' });
      targets.push({ peer, pushOffer: (await peer.pc.createOffer()).sdp! });
    }
    const corpus = [
      ...readdirSync(FIXTURES).filter((f) => f.endsWith('.sdp')).map((f) => readFileSync(join(FIXTURES, f), 'utf8')),
      ...targets.map((t) => t.pushOffer),
    ];
    const created = new Set<string>();
    const problems: string[] = [];
    const tally = new Map<string, number>();

    const check = (what: string, answer: Answer) => {
      const codes = answer.body?.errors?.map((e) => e.extensions?.code ?? 'none') ?? [];
      for (const code of codes.length ? codes : ['ok']) tally.set(code, (tally.get(code) ?? 0) + 1);
      if (answer.status >= 500) problems.push(`${what}: HTTP ${answer.status}`);
      else if (!answer.body) problems.push(`${what}: HTTP ${answer.status} with a body that is not JSON`);
      else if (codes.some((code) => !CONTRACT_CODES.has(code) || code === 'INTERNAL')) {
        problems.push(`${what}: ${JSON.stringify(answer.body.errors)}`.slice(0, 400));
      }
      const id = answer.body?.data?.createSession?.session?.id;
      if (typeof id === 'string') created.add(id);
    };

    for (let i = 0; i < ITERATIONS; i += 1) {
      const target = r.pick(targets);
      const sessionId = target.peer.sessionId;
      const kind = r.pick(['create', 'push', 'offer', 'answer', 'close', 'graphql', 'graphql', 'credentials'] as const);
      const { sdp, mutations } = mutateSdp(kind === 'create' ? r.pick(corpus) : target.pushOffer, r);
      const what = `#${i} ${kind} [${mutations.join(', ')}] (FUZZ_SEED=${SEED})`;
      switch (kind) {
        case 'create':
          check(what, await op(CREATE, { sdp }));
          break;
        case 'push': {
          const tracks = r.next() < 0.2 ? null : [{ mid: r.pick(['1', '2', '0', '9']), trackName: `fz${i}`, tags: ['room:fuzz'] }];
          check(what, await op(PUSH, { input: { sessionId, sessionDescription: { type: 'OFFER', sdp }, tracks, autoDiscover: tracks === null } }));
          break;
        }
        case 'offer':
          check(what, await op(RENEGOTIATE, { input: { sessionId, sessionDescription: { type: 'OFFER', sdp } } }));
          break;
        case 'answer': {
          // A real answer to a real SFU offer, then mutated.
          const pulled = await op(PULL, { input: { sessionId, tracks: [{ sessionId: publisher.sessionId, trackName: 'cam' }] } });
          check(`${what} (pull)`, pulled);
          const offer = pulled.body?.data?.pullTracks?.sessionDescription?.sdp as string | undefined;
          if (!offer) break;
          let answer: string;
          try {
            await target.peer.pc.setRemoteDescription({ type: 'offer', sdp: offer });
            answer = (await target.peer.pc.createAnswer()).sdp!;
            await target.peer.pc.setRemoteDescription({ type: 'rollback' } as RTCSessionDescriptionInit);
          } catch {
            break; // libwebrtc refused the SFU's offer after earlier accepted garbage; nothing to answer.
          }
          check(what, await op(RENEGOTIATE, { input: { sessionId, sessionDescription: { type: 'ANSWER', sdp: mutateSdp(answer, r).sdp } } }));
          break;
        }
        case 'close':
          check(what, await op(CLOSE_TRACKS, { input: { sessionId, mids: [r.pick(['1', '2', '0'])], sessionDescription: { type: 'OFFER', sdp } } }));
          break;
        case 'graphql':
          // Hostile operations on the fuzzer's own sessions; the publisher's tracks are only pulled.
          check(what, await post(randomGraphQLBody(r, { sessionIds: [sessionId], sources: [publisher.sessionId] })));
          break;
        case 'credentials': {
          const authorization = r.pick([null, 'Bearer', 'Bearer x.y.z', `Basic ${APP.secret}`, `Bearer ${APP.secret}x`, 'Bearer eyJhbGciOiJub25lIn0.e30.']);
          const answer = await post(JSON.stringify({ query: CLOSE_TRACKS, variables: { input: { sessionId: subscriber.sessionId, mids: ['1'], force: true } } }), authorization);
          check(what, answer);
          if (answer.body?.errors?.[0]?.extensions?.code !== 'UNAUTHENTICATED') problems.push(`${what}: ${authorization} was not refused`);
          break;
        }
      }
      if (i % 50 === 49) {
        const health = await fetch(`${server.url}/healthz`);
        if (health.status !== 200) problems.push(`#${i}: /healthz answered ${health.status}`);
      }
    }

    // What the fuzzer made, it closes; then the workers must hold what they held before.
    for (const id of [...created, ...targets.map((t) => t.peer.sessionId)]) {
      await gqlOk(server.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id }, APP.secret);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const after = await takeCensus(server.pool);

    console.log(`fuzz seed ${SEED}, ${ITERATIONS} inputs, ${created.size} sessions created by mutated offers; answers:`, Object.fromEntries(tally));
    expect(problems.slice(0, 10)).toEqual([]);
    expect(workerDeaths).toBe(0);
    expect(server.pool.workers.map((w) => w.worker.pid)).toEqual(workerPids);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect(after).toEqual(before);
    // The session that was pulling all along still decodes frames.
    await call.stillFlowing();
    expect(server.sessions.sessionCount).toBe(2);
  });

  it(`survives random graphql-ws traffic (seed ${SEED})`, { timeout: 120_000 }, async () => {
    const r = rng(SEED + 1);
    const closeCodes = new Map<number, number>();
    const errorCodes = new Map<string, number>();
    const problems: string[] = [];
    const frames = [
      () => Array.from({ length: r.int(300) }, () => String.fromCharCode(r.int(256))).join(''),
      () => JSON.stringify({ type: r.pick(['subscribe', 'complete', 'ping', 'pong', 'connection_init', 'nope', 42]), id: r.pick(['1', '', 'x'.repeat(5000), 7, null]) }),
      () => JSON.stringify({ type: 'subscribe', id: String(r.int(5)), payload: parseOr(randomGraphQLBody(r, { sessionIds: [crypto.randomUUID()], sources: [] }), {}) }),
      () => JSON.stringify({ type: 'subscribe', id: String(r.int(1000)), payload: { query: 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type } }', variables: { id: r.pick([crypto.randomUUID(), '', 5]) } } }),
      () => JSON.stringify({ type: 'subscribe', id: String(r.int(1000)), payload: { query: 'subscription { trackEvents(after: "' + r.pick(['', 'AAAA', '!!', 'x'.repeat(500)]) + '") { type } }' } }),
      () => JSON.stringify({ type: 'complete', id: String(r.int(1000)) }),
    ];
    for (let connection = 0; connection < 80; connection += 1) {
      const socket = new WebSocket(`${server.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
      await new Promise((resolve, reject) => {
        socket.addEventListener('open', resolve, { once: true });
        socket.addEventListener('error', reject, { once: true });
      });
      const sent: string[] = [];
      socket.addEventListener('message', (event) => {
        const message = parseOr(String(event.data), {}) as { type?: string; payload?: { extensions?: { code?: string } }[] };
        if (message.type !== 'error') return;
        for (const error of message.payload ?? []) {
          const code = error.extensions?.code ?? 'none';
          errorCodes.set(code, (errorCodes.get(code) ?? 0) + 1);
          if (!CONTRACT_CODES.has(code) || code === 'INTERNAL') problems.push(`${JSON.stringify(error).slice(0, 300)} after ${sent.at(-1)}`);
        }
      });
      const closed = new Promise<number>((resolve) =>
        socket.addEventListener('close', (event) => {
          resolve(event.code);
        }, { once: true }),
      );
      if (r.next() < 0.8) socket.send(JSON.stringify({ type: 'connection_init', payload: r.next() < 0.9 ? { authorization: `Bearer ${APP.secret}` } : r.pick([null, {}, { token: 'x' }]) }));
      for (let n = r.int(30); n > 0 && socket.readyState === WebSocket.OPEN; n -= 1) {
        const frame = r.pick(frames)();
        sent.push(frame.slice(0, 300));
        socket.send(frame);
        await new Promise((resolve) => setTimeout(resolve, r.int(5)));
      }
      if (socket.readyState === WebSocket.OPEN) socket.close(1000);
      const code = await closed;
      closeCodes.set(code, (closeCodes.get(code) ?? 0) + 1);
    }
    console.log('graphql-ws close codes:', Object.fromEntries(closeCodes), 'error codes:', Object.fromEntries(errorCodes));
    expect(problems.slice(0, 10)).toEqual([]);
    // 1000/1005: normal; 4400 bad message, 4401 credentials, 4409 duplicate id, 4429 repeated init, 4403 refused: all the protocol's own answers.
    const unexpected = [...closeCodes.keys()].filter((code) => ![1000, 1005, 4400, 4401, 4403, 4409, 4429, 4499].includes(code));
    expect(unexpected).toEqual([]);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    await call.stillFlowing();
  });
});
