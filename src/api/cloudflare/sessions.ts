import { invalidParams } from './errors.js';
import { description, toDescription, type Json } from './requests.js';
import { mutate, OperationFailed, type Answer, type CallContext } from './tracks.js';

type Status = 'ACTIVE' | 'INACTIVE' | 'WAITING';

/** POST sessions/new: a session, answered at once when the body brings an offer. */
export async function newSession(context: Omit<CallContext, 'sessionId'>, query: URLSearchParams): Promise<Answer> {
  // Cloudflare's thirdparty sessions talk to ICE-lite peers; mediasoup is ICE-lite too, and two ICE-lite ends never connect.
  if (query.get('thirdparty') === 'true') throw invalidParams('thirdparty sessions (to an ICE-lite peer) are not supported: Switchyard is ICE-lite itself');
  const offer = description(context.body);
  const correlationId = query.get('correlationId');
  const { createSession } = await mutate<{ createSession: { session: { id: string }; sessionDescription: { type: 'OFFER' | 'ANSWER'; sdp: string } | null } }>(
    { ...context, sessionId: '' },
    'mutation Create($input: CreateSessionInput) { createSession(input: $input) { session { id } sessionDescription { type sdp } } }',
    { input: { ...(offer ? { sessionDescription: offer } : {}), ...(correlationId ? { correlationId } : {}) } },
  );
  const answer = toDescription(createSession.sessionDescription);
  return { status: 201, body: { sessionId: createSession.session.id, ...(answer ? { sessionDescription: answer } : {}) } };
}

interface SessionState {
  tracks: { mid: string | null; location: 'LOCAL' | 'REMOTE'; status: Status; track: { sessionId: string; name: string } }[];
  dataChannels: { id: number; location: 'LOCAL' | 'REMOTE'; status: Status; dataChannel: { sessionId: string; name: string } }[];
}

/** GET sessions/{id}: its tracks and data channels with Cloudflare's status names. */
export async function getSession(context: CallContext): Promise<Answer> {
  const result = await context.execute<{ session: SessionState | null }>(
    `query Session($id: ID!) { session(id: $id) {
      tracks { mid location status track { sessionId name } }
      dataChannels { id location status dataChannel { sessionId name } }
    } }`,
    { id: context.sessionId },
    context.authorization,
  );
  if (result.error) throw new OperationFailed(result.error.code, result.error.message);
  const session = result.data.session;
  if (!session) throw new OperationFailed('SESSION_NOT_FOUND', `session ${context.sessionId} does not exist`);
  const tracks: Json[] = session.tracks.map((t) => ({
    location: t.location === 'LOCAL' ? 'local' : 'remote',
    ...(t.mid !== null ? { mid: t.mid } : {}),
    ...(t.location === 'REMOTE' ? { sessionId: t.track.sessionId } : {}),
    trackName: t.track.name,
    // A media track that is negotiated but has no media yet has not closed: active, as Cloudflare says it.
    status: t.status === 'INACTIVE' ? 'inactive' : 'active',
  }));
  const dataChannels: Json[] = session.dataChannels.map((c) => ({
    location: c.location === 'LOCAL' ? 'local' : 'remote',
    ...(c.location === 'REMOTE' ? { sessionId: c.dataChannel.sessionId } : {}),
    dataChannelName: c.dataChannel.name,
    id: c.id,
    status: c.status === 'ACTIVE' ? 'active' : c.status === 'WAITING' ? 'initializing' : 'inactive',
  }));
  return { status: 200, body: { tracks, dataChannels } };
}
