// A data channel subscriber in a process of its own, so that a test can
// freeze it (SIGSTOP) the way a stalled device would be: its SCTP stack stops
// acknowledging while the SFU keeps sending. libwebrtc (@roamhq/wrtc), plain
// fetch() to /graphql.
// Usage: node data-subscriber-process.mjs <url> <publisher session id> <channel name>
// Prints one JSON line per event: {"ready":{sessionId,id}}, then
// {"received":n,"contiguous":bool,"last":seq} every 200 ms, and {"closed":...}.
import wrtc from '@roamhq/wrtc';

const [url, source, name] = process.argv.slice(2);
const gql = async (query, variables) => {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
};
const say = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

const pc = new wrtc.RTCPeerConnection({ bundlePolicy: 'max-bundle' });
pc.createDataChannel('switchyard');
const offer = await pc.createOffer();
// The created offer, never pc.localDescription (it races ICE gathering in @roamhq/wrtc).
await pc.setLocalDescription(offer);
const created = await gql(
  'mutation($sdp: String!) { createSession(input: { sessionDescription: { type: OFFER, sdp: $sdp } }) { session { id } sessionDescription { sdp } } }',
  { sdp: offer.sdp },
);
await pc.setRemoteDescription({ type: 'answer', sdp: created.createSession.sessionDescription.sdp });
const sessionId = created.createSession.session.id;
const subscribed = await gql(
  'mutation($input: SubscribeDataChannelsInput!) { subscribeDataChannels(input: $input) { dataChannels { id options { ordered } error { code message } } } }',
  { input: { sessionId, dataChannels: [{ sessionId: source, name }] } },
);
const result = subscribed.subscribeDataChannels.dataChannels[0];
if (result.error) throw new Error(result.error.message);
const channel = pc.createDataChannel(name, { negotiated: true, id: result.id, ordered: result.options.ordered });
channel.binaryType = 'arraybuffer';
let received = 0;
let contiguous = true;
let last = -1;
channel.onmessage = (event) => {
  const seq = new DataView(event.data).getUint32(0);
  if (seq !== last + 1) contiguous = false;
  last = seq;
  received += 1;
};
// libwebrtc may open a negotiated channel at once, on an association that is already up, without an open event.
let ready = false;
const announce = () => {
  if (ready || channel.readyState !== 'open') return;
  ready = true;
  say({ ready: { sessionId, id: result.id } });
};
channel.onopen = announce;
announce();
channel.onclose = () => say({ closed: { received, contiguous, last } });
setInterval(() => {
  announce();
  say({ received, contiguous, last });
}, 200);
process.on('SIGTERM', () => {
  pc.close();
  process.exit(0);
});
