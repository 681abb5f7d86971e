/**
 * Sends only the simulcast layers someone watches ("dynacast"). Switchyard
 * reports, for each pushed simulcast track, which layers its subscribers want
 * (the session event LAYERS_IN_DEMAND); this turns the sender's other
 * encodings off with RTCRtpSender.setParameters (`active: false`), which stops
 * the browser from encoding and uploading them, and back on when asked.
 */
export class SenderLayers {
  /** One setParameters at a time per sender: a second call with stale parameters is refused by the browser. */
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    private readonly pc: RTCPeerConnection,
    private readonly failed: (error: unknown) => void,
  ) {}

  /** The encodings of the sender on `mid` whose RID is in `rids` go on, the others off. */
  apply(mid: string, rids: readonly string[]): Promise<void> {
    const previous = this.pending.get(mid) ?? Promise.resolve();
    const next = previous.then(() => this.set(mid, rids)).catch((error: unknown) => this.failed(error));
    this.pending.set(mid, next);
    void next.then(() => {
      if (this.pending.get(mid) === next) this.pending.delete(mid);
    });
    return next;
  }

  private async set(mid: string, rids: readonly string[]): Promise<void> {
    const sender = this.pc.getTransceivers().find((t) => t.mid === mid && t.currentDirection !== 'stopped')?.sender;
    if (!sender) return;
    const parameters = sender.getParameters();
    let changed = false;
    for (const encoding of parameters.encodings ?? []) {
      if (!encoding.rid) continue;
      const active = rids.includes(encoding.rid);
      if ((encoding.active ?? true) !== active) {
        encoding.active = active;
        changed = true;
      }
    }
    if (changed) await sender.setParameters(parameters);
  }
}
