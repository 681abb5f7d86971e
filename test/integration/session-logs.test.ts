import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSwitchyard, type Switchyard } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { gqlOk } from '../helpers/graphql.js';
import { fakeCamera, waitFor } from '../helpers/media.js';
import { TestPeer } from '../helpers/peer.js';
import { freeRtcPortRange } from '../helpers/ports.js';

/**
 * The log lines of a session, as an operator greps them: each carries the
 * app, the session id and the correlation id, the last one says why it
 * closed, and no line repeats a key.
 */
const lines: string[] = [];
let server: Switchyard;
const SECRET = 's'.repeat(40);

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const logger = pino({ name: 'switchyard', level: 'info' }, sink);
  server = await startSwitchyard(loadConfig({ PORT: '0', HOST: '127.0.0.1', WORKERS: '1', RTC_PORT: String(await freeRtcPortRange(1)), APPS: `acme:${SECRET}` }), logger);
});

afterAll(async () => {
  await server?.stop();
});

/** Top-level keys of a JSON object text, in order, repeats included (JSON.parse would hide them). */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && text[j + 1] === ':') keys.push(text.slice(i + 1, j));
      i = j;
    } else if (c === '{' || c === '[') depth += 1;
    else if (c === '}' || c === ']') depth -= 1;
  }
  return keys;
}

const linesOf = (sessionId: string) => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.session === sessionId);

describe('session log lines', () => {
  it('carry app, session and correlation id; the close says why; no line repeats a key', { timeout: 30_000 }, async () => {
    // Closed through the API.
    const { createSession } = await gqlOk(server.url, 'mutation { createSession(input: { correlationId: "user-42" }) { session { id } } }', {}, SECRET);
    const apiClosed = createSession.session.id as string;
    await gqlOk(server.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: apiClosed }, SECRET);

    // A libwebrtc client that publishes and then closes its PeerConnection.
    const peer = new TestPeer(server.url, SECRET);
    const cam = fakeCamera(160, 120);
    await peer.createSession();
    await peer.push([{ track: cam.track, name: 'cam' }]);
    await waitFor('connected', () => server.sessions.get(peer.sessionId)?.connectionState === 'CONNECTED');
    peer.stop();
    cam.stop();
    await waitFor('its session closed', () => server.sessions.get(peer.sessionId) === undefined, 10_000);

    const first = linesOf(apiClosed);
    expect(first.map((l) => l.msg)).toEqual(['session created', 'session closed']);
    for (const line of first) expect(line).toMatchObject({ app: 'acme', session: apiClosed, correlationId: 'user-42' });
    expect(first[1]).toMatchObject({ reason: 'closeSession' });

    const second = linesOf(peer.sessionId);
    expect(second.length).toBeGreaterThanOrEqual(2);
    for (const line of second) expect(line).toMatchObject({ app: 'acme', session: peer.sessionId, correlationId: null });
    const closed = second.find((l) => l.msg === 'session closed')!;
    console.log(`logs: a libwebrtc client's pc.close() -> ${JSON.stringify(closed)}`);
    expect(String(closed.reason)).toMatch(/client/);

    for (const line of lines) {
      const keys = topLevelKeys(line);
      expect(keys.filter((k, i) => keys.indexOf(k) !== i), line).toEqual([]);
    }
    expect(lines.some((l) => l.includes('"workerPid"'))).toBe(true);
  });
});
