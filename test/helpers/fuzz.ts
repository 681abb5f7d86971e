/**
 * Seeded random inputs for the robustness test: mutations of real SDPs and
 * random GraphQL payloads. The same seed gives the same run.
 */

import { rng, type Rng } from './random.js';

export { rng, type Rng };

const ABSURD_NUMBERS = ['0', '-1', '4294967296', '18446744073709551616', '1e308', '99999999999999999999999', '-0', '0x7f', 'NaN', '65536', '128', '255', '2147483648'];
const STRANGE_TEXT = ['', ' ', '\u0000', '\u00ff\u00fe', '😀', '%s%s%n', '../../etc/passwd', '<script>', 'a'.repeat(5000), '\t\t', ';', ':', '/', '=', '\r'];

type LineMutation = (lines: string[], r: Rng) => string[];

const at = (lines: string[], r: Rng) => (lines.length === 0 ? 0 : r.int(lines.length));

/** Each mutation changes one thing a real peer, a broken peer or an attacker could get wrong. */
export const SDP_MUTATIONS: Record<string, LineMutation> = {
  truncate: (lines, r) => {
    const text = lines.join('\r\n');
    return text.slice(0, r.int(text.length)).split('\r\n');
  },
  duplicateLine: (lines, r) => {
    const i = at(lines, r);
    return [...lines.slice(0, i + 1), lines[i] ?? '', ...lines.slice(i)];
  },
  deleteLine: (lines, r) => {
    const i = at(lines, r);
    return [...lines.slice(0, i), ...lines.slice(i + 1)];
  },
  swapLines: (lines, r) => {
    const copy = [...lines];
    const i = at(copy, r);
    const j = at(copy, r);
    [copy[i], copy[j]] = [copy[j] as string, copy[i] as string];
    return copy;
  },
  reverseSection: (lines, r) => {
    const i = at(lines, r);
    const j = Math.min(lines.length, i + 1 + r.int(12));
    return [...lines.slice(0, i), ...lines.slice(i, j).reverse(), ...lines.slice(j)];
  },
  absurdNumber: (lines, r) => {
    const candidates = lines.map((l, i) => (/\d/.test(l) ? i : -1)).filter((i) => i >= 0);
    if (!candidates.length) return lines;
    const i = r.pick(candidates);
    const copy = [...lines];
    let n = 0;
    const target = r.int(8);
    copy[i] = (copy[i] as string).replace(/\d+/g, (m) => (n++ === target || r.next() < 0.3 ? r.pick(ABSURD_NUMBERS) : m));
    return copy;
  },
  wrongMid: (lines, r) =>
    lines.map((l) => (l.startsWith('a=mid:') && r.next() < 0.6 ? `a=mid:${r.pick(['0', '1', '', 'x'.repeat(300), '99', '-1', '0 1', '😀'])}` : l)),
  duplicateMids: (lines) => lines.map((l) => (l.startsWith('a=mid:') ? 'a=mid:0' : l)),
  bundleNonsense: (lines, r) =>
    lines.map((l) => (l.startsWith('a=group:BUNDLE') ? `a=group:BUNDLE ${r.pick(['', '7 8 9', '0 0 0', 'x'.repeat(1000)])}` : l)),
  noFingerprint: (lines) => lines.filter((l) => !l.startsWith('a=fingerprint')),
  badFingerprint: (lines, r) =>
    lines.map((l) => (l.startsWith('a=fingerprint') ? `a=fingerprint:${r.pick(['sha-256 00', 'md5 AB:CD', 'sha-256', 'sha-999 ' + 'AB:'.repeat(40)])}` : l)),
  noIce: (lines) => lines.filter((l) => !l.startsWith('a=ice-ufrag') && !l.startsWith('a=ice-pwd')),
  hugeValue: (lines, r) => {
    const copy = [...lines];
    const i = at(copy, r);
    copy[i] = `${copy[i] ?? ''}${'x'.repeat(1000 + r.int(60_000))}`;
    return copy;
  },
  strangeText: (lines, r) => {
    const copy = [...lines];
    const i = at(copy, r);
    const line = copy[i] ?? '';
    const cut = r.int(line.length + 1);
    copy[i] = line.slice(0, cut) + r.pick(STRANGE_TEXT) + line.slice(cut);
    return copy;
  },
  directionFlip: (lines, r) =>
    lines.map((l) => (/^a=(sendonly|recvonly|sendrecv|inactive)$/.test(l) ? `a=${r.pick(['sendonly', 'recvonly', 'sendrecv', 'inactive'])}` : l)),
  mediaLine: (lines, r) =>
    lines.map((l) =>
      l.startsWith('m=') && r.next() < 0.5
        ? r.pick([
            'm=video 9 UDP/TLS/RTP/SAVPF',
            'm=audio 0 UDP/TLS/RTP/SAVPF 111',
            'm=video 9 RTP/AVP 96',
            'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
            `m=video 9 UDP/TLS/RTP/SAVPF ${Array.from({ length: 300 }, (_, k) => k).join(' ')}`,
            'm=text 9 UDP/TLS/RTP/SAVPF 96',
            'm=',
          ])
        : l,
    ),
  simulcastNonsense: (lines, r) => [
    ...lines,
    r.pick(['a=simulcast:send ' + 'h;'.repeat(50), 'a=rid:h send max-width=99999999', 'a=simulcast:recv x', 'a=rid:' + 'r'.repeat(300) + ' send']),
  ],
  ssrcNonsense: (lines, r) => [...lines, `a=ssrc:${r.pick(ABSURD_NUMBERS)} cname:${r.pick(STRANGE_TEXT)}`, `a=ssrc-group:FID ${r.pick(ABSURD_NUMBERS)}`],
  lineEndings: (lines, r) => [lines.join(r.pick(['\n', '\r', '\r\r\n', '\n\r']))],
};

/** One to three mutations of a real SDP, and their names (for the failure message). */
export function mutateSdp(sdp: string, r: Rng): { sdp: string; mutations: string[] } {
  let lines = sdp.split('\r\n');
  const names = Object.keys(SDP_MUTATIONS);
  const mutations: string[] = [];
  for (let n = 1 + r.int(3); n > 0; n -= 1) {
    const name = r.pick(names);
    mutations.push(name);
    lines = (SDP_MUTATIONS[name] as LineMutation)(lines, r);
  }
  return { sdp: lines.join('\r\n'), mutations };
}

const VOCABULARY = [
  'query', 'mutation', 'subscription', '{', '}', '(', ')', ':', '$', '!', '[', ']', '...', 'on', 'fragment', '@skip', '@include',
  'session', 'tracks', 'track', 'createSession', 'pushTracks', 'pullTracks', 'renegotiate', 'updateTracks', 'closeTracks',
  'closeSession', 'input', 'sessionId', 'id', 'sdp', 'type', 'OFFER', 'ANSWER', 'mids', 'force', 'true', 'null', '"x"', '0',
  '__schema', '__typename', 'trackEvents', 'filter', 'tags', 'name', 'mid', 'error', 'code', '"\\u0000"', '#',
];

const randomValue = (r: Rng, depth = 0): unknown => {
  switch (r.int(depth > 3 ? 5 : 8)) {
    case 0: return null;
    case 1: return r.pick(ABSURD_NUMBERS.map(Number));
    case 2: return r.pick(STRANGE_TEXT);
    case 3: return r.next() < 0.5;
    case 4: return crypto.randomUUID();
    case 5: return Array.from({ length: r.int(5) }, () => randomValue(r, depth + 1));
    case 6: return Object.fromEntries(Array.from({ length: r.int(5) }, () => [r.pick(['sessionId', 'trackName', 'mid', 'sdp', 'type', 'tracks', 'mids', 'x']), randomValue(r, depth + 1)]));
    default: return 'OFFER';
  }
};

const MUTATIONS = [
  'mutation($input: CreateSessionInput) { createSession(input: $input) { session { id } } }',
  'mutation($input: PushTracksInput!) { pushTracks(input: $input) { tracks { mid error { code } } } }',
  'mutation($input: PullTracksInput!) { pullTracks(input: $input) { tracks { mid error { code } } } }',
  'mutation($input: RenegotiateInput!) { renegotiate(input: $input) { session { id } } }',
  'mutation($input: UpdateTracksInput!) { updateTracks(input: $input) { tracks { mid error { code } } } }',
  'mutation($input: CloseTracksInput!) { closeTracks(input: $input) { tracks { mid error { code } } } }',
  'mutation($input: CloseSessionInput!) { closeSession(input: $input) { sessionId } }',
  'query($id: ID!) { session(id: $id) { id tracks { mid } } }',
  'query($filter: TrackFilter) { tracks(filter: $filter) { name } }',
];

/** A random HTTP body for POST /graphql: garbage, wrong JSON shapes, random documents, real operations with random variables. */
export function randomGraphQLBody(r: Rng, own: { sessionIds: readonly string[]; sources: readonly string[] }): string {
  const sessionIds = own.sessionIds;
  switch (r.int(6)) {
    case 0:
      return Array.from({ length: r.int(200) }, () => String.fromCharCode(r.int(256))).join('');
    case 1:
      return JSON.stringify(randomValue(r));
    case 2:
      return JSON.stringify({ query: Array.from({ length: 1 + r.int(40) }, () => r.pick(VOCABULARY)).join(' ') });
    case 3:
      return JSON.stringify({ query: r.pick(MUTATIONS), variables: { input: randomValue(r), id: randomValue(r), filter: randomValue(r) } });
    case 4: {
      // A well-formed operation on a real session with hostile values.
      const sessionId = sessionIds.length && r.next() < 0.8 ? r.pick(sessionIds) : crypto.randomUUID();
      const input = r.pick([
        { sessionId, tracks: [{ sessionId: r.pick([sessionId, 'x', '', ...own.sources]), trackName: r.pick([...STRANGE_TEXT, 'cam']), mid: r.pick([null, '0', '#x', '99']) }] },
        { sessionId, mids: Array.from({ length: r.int(100) }, () => r.pick(['0', '1', '2', 'x'])), force: r.next() < 0.5 },
        { sessionId, tracks: [{ trackName: r.pick(STRANGE_TEXT), kind: r.pick(['AUDIO', 'VIDEO']), tags: [r.pick(STRANGE_TEXT)] }] },
        { sessionId, sessionDescription: { type: r.pick(['OFFER', 'ANSWER']), sdp: r.pick(STRANGE_TEXT) } },
      ]);
      return JSON.stringify({ query: r.pick(MUTATIONS.slice(1, 7)), variables: { input } });
    }
    default:
      return JSON.stringify({ query: '{ tracks { name } }', operationName: r.pick([null, 'Nope', 1, {}]), extensions: randomValue(r) });
  }
}
