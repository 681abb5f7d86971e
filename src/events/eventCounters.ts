/**
 * Events this process published and handed to subscribers, for /metrics.
 * Process-wide on purpose: they are counted where events pass (the buses and
 * EventStream), which know nothing of the node that owns them.
 */
export const eventCounters = {
  /** Track events this node published (to its own log or the cluster's). */
  trackPublished: 0,
  /** Session events this node published. */
  sessionPublished: 0,
  /** Events taken by subscribers' streams (both kinds, WebSocket and HTTP). */
  delivered: 0,
};
