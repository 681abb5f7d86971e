/**
 * Track.id: one string per (sessionId, name), the same on every node and in
 * every answer and event, so that normalized GraphQL caches (Apollo
 * InMemoryCache, urql Graphcache, Relay) key tracks with no configuration.
 *
 * The form is `${sessionId}:${name}`, readable in cache devtools and logs, and
 * composable by a client that holds only the pair (to find the track in its
 * cache). It is unambiguous: session ids are UUIDs, which never contain ':',
 * so the first ':' ends the session id and the rest is the name (names may
 * contain ':'). For the same reason it never equals a Session.id.
 *
 * Derived, not stored: a track published again under the same name in the
 * same session (closeTracks, then pushTracks with that name) has the same
 * id, and caches update the same entry.
 */
export function trackId(sessionId: string, name: string): string {
  return `${sessionId}:${name}`;
}
