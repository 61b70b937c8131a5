import { mkdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { type RecordedRead, racilyRecorded } from "../fingerprint/fs-reads.js";

/**
 * Writes a shortcut's file (the spec cache, the no-change memo) atomically, then removes it again
 * when one of the `reads` it rests on changed within the file's own clock tick (git's "racily
 * clean" rule: such a change could repeat without the metadata moving, so the shortcut could not
 * tell). Never throws: a shortcut is an optimisation, and a read-only project still runs.
 */
export function writeShortcutFile(
  file: string,
  content: string,
  reads: readonly RecordedRead[],
): void {
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, content);
    renameSync(tmp, file);
    if (racilyRecorded(reads, statSync(file).mtimeMs)) rmSync(file, { force: true });
  } catch {
    // read-only project, full disk: runs stay correct, just not faster
  }
}
