import { connectionsLeftForExit } from "../state/sqlite-store.js";

let endsProcess = false;

/**
 * Says that the process ends with this command, and calls {@link exitIfDone} after it (as
 * bin/dagwright.cjs does): commands may then leave their state store's connection to that end.
 * A caller running commands in-process does not call it, and their stores are closed.
 */
export function commandEndsProcess(): void {
  endsProcess = true;
}

/** Whether a command may leave its store's connection for the end of the process. */
export function leaveStoresForExit(): boolean {
  return endsProcess;
}

/**
 * Ends the process now, with `code`, when a command left state store connections for its end
 * (`store.close({ leaveForExit: true })`) and nothing else is under way: Node's own exit would
 * run its cleanup, which closes them, and SQLite's close checkpoints the WAL, which nothing here
 * waits for (src/state/sqlite-store.ts, leftForExit). Returns otherwise, and the process ends as
 * usual: with a child process, a socket, a timer or output still to flush, or nothing left open.
 */
export async function exitIfDone(code: number): Promise<void> {
  if (connectionsLeftForExit() === 0) return;
  // Callbacks queued by the command's last steps run first.
  await new Promise<void>((resolve) => setImmediate(resolve));
  const busy = process.getActiveResourcesInfo().filter((r) => r !== "PipeWrap" && r !== "TTYWrap");
  // stdout and stderr are synchronous on Linux; where a pipe is not, output may still be queued.
  if (busy.length > 0 || process.stdout.writableLength > 0 || process.stderr.writableLength > 0)
    return;
  process.exit(code);
}
