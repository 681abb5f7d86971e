/**
 * A bench's main: a watchdog, undo steps run last-in, first-out at the end
 * (or on SIGINT/SIGTERM) whatever happened, and the exit code.
 */
export async function runBench(name: string, timeoutMinutes: number, body: (defer: (undo: () => unknown) => void) => Promise<void>): Promise<never> {
  const watchdog = setTimeout(() => {
    console.error(`${name} did not finish within ${timeoutMinutes} minutes; exiting`);
    process.exit(2);
  }, timeoutMinutes * 60_000);
  watchdog.unref();
  const cleanups: (() => unknown)[] = [];
  const cleanUp = async () => {
    while (cleanups.length) {
      try {
        await cleanups.pop()!();
      } catch (error) {
        console.error('cleanup step failed:', error);
      }
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void cleanUp().finally(() => process.exit(130)));
  let failed: unknown;
  try {
    await body((undo) => cleanups.push(undo));
  } catch (error) {
    failed = error;
  } finally {
    await cleanUp();
  }
  if (failed) {
    console.error(`${name} failed:`, failed);
    process.exit(1);
  }
  process.exit(0);
}
