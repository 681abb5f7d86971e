import { setMaxListeners } from 'node:events';

/**
 * The EventTarget behind a pubsub: one listener per subscription, so
 * thousands are normal and Node's leak warning (at 11) does not apply.
 */
export function unboundedEventTarget(): EventTarget {
  const target = new EventTarget();
  setMaxListeners(0, target);
  return target;
}
