/** Waiting and error text, shared by the churn (runner.ts) and the journeys (journeys/). */

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` every `everyMs` (50 by default); true once it holds, false
 * after `timeoutMs`. Checks that ask the node over IPC are async and poll less often.
 */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await delay(everyMs);
  }
}

/** True when every promise settled within `ms`. */
export async function settleWithin(promises: Promise<unknown>[], ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const all = Promise.allSettled(promises).then(() => true as const);
  const result = await Promise.race([all, timeout]);
  clearTimeout(timer);
  return result;
}

export const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error)).slice(0, 300);
