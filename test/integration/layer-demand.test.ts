import { describe, expect, it } from 'vitest';
import { gqlOk } from '../helpers/graphql.js';
import { fakeCamera, waitFor } from '../helpers/media.js';
import { SIMULCAST_LAYERS, TestPeer } from '../helpers/peer.js';
import { useTestServer } from '../helpers/server.js';
import { collect, wsClient } from '../helpers/subscriptions.js';

/**
 * Issue 12, item 3, at the API: a publisher is told which simulcast layers of
 * its track anyone watches (LAYERS_IN_DEMAND on its session events, and
 * layersInDemand in its session's state), whichever worker the subscribers
 * are on, so that it can stop sending the others.
 */
const OFF_DELAY_MS = 500;
const file = useTestServer({ WORKERS: '2', LAYER_OFF_DELAY_MS: String(OFF_DELAY_MS) });

const PULL = `mutation($input: PullTracksInput!) { pullTracks(input: $input) { sessionDescription { sdp } tracks { mid error { code } } } }`;
const UPDATE = `mutation($input: UpdateTracksInput!) { updateTracks(input: $input) { tracks { error { code } } } }`;
const EVENTS = 'subscription($id: ID!) { sessionEvents(sessionId: $id) { type mid layersInDemand } }';
const STATE = 'query($id: ID!) { session(id: $id) { tracks { mid location layersInDemand preferredLayer receivingLayers { rid spatialLayer temporalLayer } } } }';

type DemandEvent = { type: string; mid: string | null; layersInDemand: string[] | null; at: number };

describe('layers in demand', () => {
  it('tells the publisher which layers its subscribers on any worker want, at once when more and after the delay when fewer', { timeout: 60_000 }, async () => {
    const { server, cleanups } = file;
    const camera = fakeCamera(320, 180, 15);
    cleanups.push(camera.stop);
    const publisher = new TestPeer(server.url);
    cleanups.push(() => publisher.stop());
    await publisher.createSession();
    const events = collect<DemandEvent>(wsClient(server.url), EVENTS, { id: publisher.sessionId }, (d) => ({ ...d.sessionEvents, at: Date.now() }));
    cleanups.push(() => void events.close());
    const [pushed] = await publisher.push([{ track: camera.track, name: 'camera', sendEncodings: SIMULCAST_LAYERS }]);
    const mid = pushed!.mid!;
    const demandEvents = () => events.items.filter((e) => e.type === 'LAYERS_IN_DEMAND');
    const publisherDemand = async () =>
      (await gqlOk(server.url, STATE, { id: publisher.sessionId })).session.tracks.find((t: { mid: string }) => t.mid === mid).layersInDemand;

    // Nobody watches: after the delay only the lowest layer is in demand.
    expect(await publisherDemand()).toEqual(['q', 'h', 'f']);
    await waitFor('the first LAYERS_IN_DEMAND', () => demandEvents().length === 1, 5000);
    expect(demandEvents()[0]).toMatchObject({ mid, layersInDemand: ['q'] });
    expect(await publisherDemand()).toEqual(['q']);

    // A subscriber on the other worker asks for the middle layer: reported at once.
    const subscriber = new TestPeer(server.url);
    cleanups.push(() => subscriber.stop());
    await subscriber.createSession();
    expect(server.sessions.get(subscriber.sessionId)!.worker).not.toBe(server.sessions.get(publisher.sessionId)!.worker);
    const asked = Date.now();
    const pulled = await gqlOk(server.url, PULL, {
      input: { sessionId: subscriber.sessionId, tracks: [{ sessionId: publisher.sessionId, trackName: 'camera', simulcast: { preferredRid: 'h' } }] },
    });
    await waitFor('demand for the middle layer', () => demandEvents().length === 2, 2000);
    const raised = demandEvents()[1]!;
    expect(raised).toMatchObject({ mid, layersInDemand: ['q', 'h'] });
    console.log(`layers in demand: a pull of h reported to the publisher ${raised.at - asked} ms after it was asked for`);
    expect(raised.at - asked).toBeLessThan(1000);
    await subscriber.applyOffer(pulled.pullTracks.sessionDescription.sdp);

    // What the subscriber receives: libwebrtc sends only the lowest layer of a 320x180 camera, so it gets q while it prefers h.
    const subscriberMid = pulled.pullTracks.tracks[0].mid;
    await waitFor('the subscriber receives a layer', () => subscriber.received.has(subscriberMid));
    await expect
      .poll(async () => (await gqlOk(server.url, STATE, { id: subscriber.sessionId })).session.tracks[0], { timeout: 15_000 })
      .toMatchObject({ mid: subscriberMid, location: 'REMOTE', preferredLayer: 'h', layersInDemand: null, receivingLayers: { rid: 'q', spatialLayer: 0 } });

    // The top layer, then back down: the decrease waits for the delay.
    await gqlOk(server.url, UPDATE, {
      input: { sessionId: subscriber.sessionId, tracks: [{ mid: subscriberMid, sessionId: publisher.sessionId, trackName: 'camera', simulcast: { preferredRid: 'f' } }] },
    });
    await waitFor('demand for the top layer', () => demandEvents().length === 3, 2000);
    expect(demandEvents()[2]!.layersInDemand).toEqual(['q', 'h', 'f']);
    const lowered = Date.now();
    await gqlOk(server.url, UPDATE, {
      input: { sessionId: subscriber.sessionId, tracks: [{ mid: subscriberMid, sessionId: publisher.sessionId, trackName: 'camera', simulcast: { preferredRid: 'q' } }] },
    });
    await waitFor('the lower demand', () => demandEvents().length === 4, 3000);
    expect(demandEvents()[3]!.layersInDemand).toEqual(['q']);
    expect(demandEvents()[3]!.at - lowered).toBeGreaterThanOrEqual(OFF_DELAY_MS - 50);

    // A subscriber that leaves takes its demand with it.
    await gqlOk(server.url, UPDATE, {
      input: { sessionId: subscriber.sessionId, tracks: [{ mid: subscriberMid, sessionId: publisher.sessionId, trackName: 'camera', simulcast: { preferredRid: 'f' } }] },
    });
    await waitFor('demand for the top layer again', () => demandEvents().length === 5, 2000);
    await gqlOk(server.url, 'mutation($id: ID!) { closeSession(input: { sessionId: $id }) { sessionId } }', { id: subscriber.sessionId });
    await waitFor('no demand after the subscriber left', () => demandEvents().length === 6, 3000);
    expect(demandEvents()[5]!.layersInDemand).toEqual(['q']);
    expect(events.errors).toEqual([]);
  });

  it('says nothing about tracks without simulcast', async () => {
    const { server, cleanups } = file;
    const camera = fakeCamera(160, 120, 15);
    cleanups.push(camera.stop);
    const publisher = new TestPeer(server.url);
    cleanups.push(() => publisher.stop());
    await publisher.createSession();
    const [pushed] = await publisher.push([{ track: camera.track, name: 'plain' }]);
    const state = await gqlOk(server.url, STATE, { id: publisher.sessionId });
    expect(state.session.tracks).toEqual([{ mid: pushed!.mid, location: 'LOCAL', layersInDemand: null, preferredLayer: null, receivingLayers: null }]);
  });
});
