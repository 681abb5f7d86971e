import { SwitchyardError } from '@switchyard/client';
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { joinRoom, leaveRoom, type Call } from './call';
import { Room } from './Room';

const params = new URLSearchParams(location.search);

/** The lobby (a room name and a display name) until joined, then the room. */
export function App() {
  const [call, setCall] = useState<Call>();
  const [joining, setJoining] = useState(false);
  const [failure, setFailure] = useState<string>();

  // Joining happens in the submit handler, not in an effect: one click, one session.
  async function join(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const room = String(form.get('room')).trim();
    const name = String(form.get('name')).trim();
    if (!room || !name) return;
    setJoining(true);
    setFailure(undefined);
    try {
      setCall(await joinRoom(room, name));
    } catch (error) {
      setFailure(error instanceof SwitchyardError ? `${error.code}: ${error.message}` : `Could not join: ${String(error)}`);
    } finally {
      setJoining(false);
    }
  }

  const leave = useCallback(() => {
    if (!call) return;
    setCall(undefined);
    void leaveRoom(call).catch(() => undefined);
  }, [call]);

  // Closing the tab leaves at once for the others (the SDK's request outlives the page: keepalive).
  useEffect(() => {
    if (!call) return;
    const onPageHide = () => void call.sfu.leave().catch(() => undefined);
    addEventListener('pagehide', onPageHide);
    return () => removeEventListener('pagehide', onPageHide);
  }, [call]);

  if (call) return <Room call={call} onLeave={leave} />;
  return (
    <main className="lobby">
      <h1>Switchyard room</h1>
      <form onSubmit={(event) => void join(event)}>
        <label>
          Room <input id="room" name="room" required defaultValue={params.get('room') ?? ''} />
        </label>
        <label>
          Your name <input id="name" name="name" required defaultValue={params.get('name') ?? ''} />
        </label>
        <button id="join" type="submit" disabled={joining}>
          {joining ? 'Joining…' : 'Join'}
        </button>
      </form>
      {failure && <p className="error">{failure}</p>}
    </main>
  );
}
