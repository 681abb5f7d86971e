import { describe, expect, it, vi } from 'vitest';
import { SenderLayers } from '../../client/src/SenderLayers.js';
import { connect, fakeTrack, sfu } from '../helpers/fakeSfu.js';

/**
 * Adaptive simulcast in the SDK: LAYERS_IN_DEMAND turns a pushed track's
 * unwatched encodings off and watched ones on (RTCRtpSender.setParameters),
 * against a scripted SFU and a sender that keeps its parameters as a browser
 * does (getParameters returns a copy; setParameters applies it).
 */
function fakeSender(rids: string[]) {
  let encodings = rids.map((rid) => ({ rid, active: true }));
  const calls: boolean[][] = [];
  return {
    calls,
    get active() {
      return encodings.map((e) => e.active);
    },
    getParameters: () => ({ encodings: encodings.map((e) => ({ ...e })) }),
    setParameters: vi.fn(async (parameters: { encodings: { rid: string; active: boolean }[] }) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      calls.push(parameters.encodings.map((e) => e.active));
      encodings = parameters.encodings.map((e) => ({ ...e }));
    }),
  };
}

function pcWith(mid: string, sender: ReturnType<typeof fakeSender>) {
  return { getTransceivers: () => [{ mid, currentDirection: 'sendonly', sender }] } as unknown as RTCPeerConnection;
}

describe('SenderLayers', () => {
  it('turns encodings outside the demand off and back on, in the order the events came', async () => {
    const sender = fakeSender(['l', 'm', 'h']);
    const layers = new SenderLayers(pcWith('1', sender), (error) => { throw error; });
    void layers.apply('1', ['l']);
    void layers.apply('1', ['l', 'm', 'h']);
    await layers.apply('1', ['l', 'm']);
    expect(sender.calls).toEqual([[true, false, false], [true, true, true], [true, true, false]]);
    expect(sender.active).toEqual([true, true, false]);
  });

  it('changes nothing when the demand matches what is sent, and ignores unknown mids', async () => {
    const sender = fakeSender(['l', 'm', 'h']);
    const layers = new SenderLayers(pcWith('1', sender), (error) => { throw error; });
    await layers.apply('1', ['l', 'm', 'h']);
    await layers.apply('7', ['l']);
    expect(sender.setParameters).not.toHaveBeenCalled();
  });

  it('reports a failing setParameters and carries on with the next demand', async () => {
    const sender = fakeSender(['l', 'h']);
    sender.setParameters.mockRejectedValueOnce(new Error('InvalidModificationError'));
    const failures: unknown[] = [];
    const layers = new SenderLayers(pcWith('1', sender), (error) => failures.push(error));
    await layers.apply('1', ['l']);
    await layers.apply('1', ['l']);
    expect(failures).toHaveLength(1);
    expect(sender.active).toEqual([true, false]);
  });
});

describe('Switchyard (SDK): LAYERS_IN_DEMAND', () => {
  it('applies the demand to the pushed track on that mid and emits layersindemand; adaptiveSimulcast: false only emits', async () => {
    for (const adaptive of [true, false]) {
      const transport = sfu();
      const { client, pc } = await connect(transport, adaptive ? {} : { adaptiveSimulcast: false });
      await client.push(fakeTrack('cam'), { name: 'camera' });
      const transceiver = pc.transceivers[0]!;
      const sender = fakeSender(['l', 'm', 'h']);
      Object.assign(transceiver, { sender });
      const seen: unknown[] = [];
      client.on('layersindemand', (event) => seen.push(event));
      transport.sinks.get('SessionEvents')!.next({ sessionEvents: { type: 'LAYERS_IN_DEMAND', mid: transceiver.mid, layersInDemand: ['l'] } });
      await vi.waitFor(() => expect(seen).toEqual([{ mid: transceiver.mid, rids: ['l'] }]));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(sender.active).toEqual(adaptive ? [true, false, false] : [true, true, true]);
    }
  });
});
