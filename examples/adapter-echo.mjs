// A WebSocket adapter service in a few lines: it hears a track as PCM and
// says it back as a track of its own (an echo), and saves a video track's
// JPEGs. Run a Switchyard (npm start), publish a microphone (the room demo at
// /demo/ does), then:
//
//   node examples/adapter-echo.mjs http://127.0.0.1:4000 <sessionId> <audioTrack> [videoTrack]
//
// and pull the track it prints. In production the SFU refuses loopback
// endpoints: run the service where the SFU may reach it (docs/adapters.md).
import { mkdirSync, writeFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { WebSocketServer } from 'ws';

const [sfu = 'http://127.0.0.1:4000', sessionId, audioTrack, videoTrack] = process.argv.slice(2);
if (!sessionId || !audioTrack) throw new Error('usage: adapter-echo.mjs <sfu url> <sessionId> <audioTrack> [videoTrack]');

// The adapters' message, both ways (Cloudflare's definition).
const Packet = new protobuf.Type('Packet')
  .add(new protobuf.Field('sequenceNumber', 1, 'uint32'))
  .add(new protobuf.Field('timestamp', 2, 'uint32'))
  .add(new protobuf.Field('payload', 5, 'bytes'));

const service = new WebSocketServer({ host: '127.0.0.1', port: 0 });
await new Promise((resolve) => service.once('listening', resolve));
const base = `ws://127.0.0.1:${service.address().port}`;
let speaker; // the ingest adapter's socket: what is sent here is published
let frames = 0;
if (videoTrack) mkdirSync('frames', { recursive: true });

service.on('connection', (socket, request) => {
  const path = new URL(request.url, base).pathname;
  if (path === '/speak') speaker = socket;
  socket.on('message', (data) => {
    const { payload } = Packet.decode(data);
    // 20 ms of 48 kHz stereo s16le per packet: sent straight back, the SFU paces it.
    if (path === '/listen' && speaker) speaker.send(Packet.encode({ payload }).finish());
    if (path === '/frames') writeFileSync(`frames/${String(frames++).padStart(5, '0')}.jpg`, payload);
  });
});

async function createAdapter(input) {
  const response = await fetch(`${sfu}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(process.env.SWITCHYARD_SECRET ? { authorization: `Bearer ${process.env.SWITCHYARD_SECRET}` } : {}) },
    body: JSON.stringify({ query: 'mutation($input: CreateWebSocketAdapterInput!) { createWebSocketAdapter(input: $input) { id sessionId trackName } }', variables: { input } }),
  });
  const { data, errors } = await response.json();
  if (errors) throw new Error(`${errors[0].extensions?.code}: ${errors[0].message}`);
  return data.createWebSocketAdapter;
}

// Ingest first, so that the echo has somewhere to go when the first packet is heard.
const echo = await createAdapter({ location: 'LOCAL', trackName: 'echo', endpoint: `${base}/speak` });
await createAdapter({ location: 'REMOTE', sessionId, trackName: audioTrack, endpoint: `${base}/listen` });
if (videoTrack) await createAdapter({ location: 'REMOTE', sessionId, trackName: videoTrack, endpoint: `${base}/frames`, codec: 'JPEG' });
console.log(`echo published: pull session ${echo.sessionId}, track ${echo.trackName}${videoTrack ? '; JPEGs in ./frames' : ''}`);
