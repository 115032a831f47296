/**
 * Crash tests kill the real CLI at a named point: PARAKO_TEST_PAUSE_AT=<point> makes the run
 * stop there, say so on stderr, and wait to be killed — or, for SIGINT/SIGTERM, go on once
 * the CLI's own handler has seen the signal, so a test can show what a signal at that point
 * does. The points are the phases of the journal plus `mid-download` (half the artifact on
 * disk) and `mid-extract` (a staging dir partly written: the slice of the archive holding its
 * third entry is unpacked, the rest is not). Unset, as it always is in production, each costs
 * one environment lookup and the code path is the same.
 */
export async function pauseForTests(point: string): Promise<void> {
  if (process.env.PARAKO_TEST_PAUSE_AT !== point) return;
  announce(point);
  const keepAlive = setInterval(() => undefined, 60_000);
  await new Promise<void>((resolve) => {
    // Registered after the CLI's handler, so the operation's signal is already aborted.
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  clearInterval(keepAlive);
}

function announce(point: string): void {
  // stderr is a pipe in tests, and pipes are written synchronously on Linux.
  process.stderr.write(`PARAKO_TEST_PAUSED_AT ${point}\n`);
}
