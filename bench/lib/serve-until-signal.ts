/**
 * The end of every bench server process: announce the URL on stdout for the parent, then close
 * cleanly on SIGTERM/SIGINT so a --cpu-prof profile gets written and threads drain.
 */
export function serveUntilSignal(announce: string, close: () => Promise<unknown>): void {
  process.stdout.write(`${announce}\n`);
  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    await close();
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}
