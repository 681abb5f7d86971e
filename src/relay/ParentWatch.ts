import type { Logger } from '../logger.js';

/** How often each parent is asked, how long an answer may take, and how many misses in a row mean it is gone. */
const PROBE_EVERY_MS = 500;
const PROBE_TIMEOUT_MS = 1000;
const MISSES = 2;

/**
 * Watches the nodes this node takes tracks from (its parents in the relay
 * trees) more closely than the cluster's heartbeat does: each is asked for
 * its /healthz every half second, and one that fails twice in a row (refused,
 * or no answer within a second) is given up for its relays at once, so the
 * tracks it fed come from another carrier a second or so after it died,
 * not after its 3 s heartbeat TTL. A parent that is merely slow is given up
 * too: re-attaching costs a short freeze, less than waiting on it. Any
 * answer (503 while draining included) means it is there.
 */
export class ParentWatch {
  private timer: NodeJS.Timeout | undefined;
  private readonly misses = new Map<string, number>();

  constructor(
    /** The parents now: node id -> its API URL. */
    private readonly parents: () => Map<string, string>,
    private readonly onGone: (nodeId: string) => void,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.probeAll(), PROBE_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async probeAll(): Promise<void> {
    const parents = this.parents();
    for (const id of [...this.misses.keys()]) if (!parents.has(id)) this.misses.delete(id);
    await Promise.all([...parents].map(([id, url]) => this.probe(id, url)));
  }

  private async probe(id: string, url: string): Promise<void> {
    const answered = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) }).then(
      async (response) => {
        await response.body?.cancel();
        return true;
      },
      () => false,
    );
    if (answered) {
      this.misses.delete(id);
      return;
    }
    const missed = (this.misses.get(id) ?? 0) + 1;
    this.misses.set(id, missed);
    if (missed < MISSES) return;
    this.logger.warn({ node: id, misses: missed }, 'a node this one takes tracks from does not answer: taking them from other carriers');
    this.misses.delete(id);
    // Its tracks re-attach elsewhere (not to it: joinTree avoids it); should one still come from it later, it is watched afresh.
    this.onGone(id);
  }
}
