import { readFileSync } from "node:fs";

// USER_HZ: the unit of utime/stime in /proc/<pid>/stat. 100 on every Linux ABI Node supports.
const TICK_MS = 10;

/** Peak resident memory and CPU time of one process, as far as samples saw them. */
export interface ProcMetrics {
  peakRssKb?: number;
  cpuMs?: number;
}

/**
 * Reads `/proc/<pid>/status` (VmHWM, the kernel's own high-water mark) and `/proc/<pid>/stat`
 * (utime + stime) into `into`, keeping the largest values seen. Does nothing where /proc is
 * missing (macOS) or the process is gone. Only the process itself is measured, not its children.
 */
export function sampleProcMetrics(pid: number, into: ProcMetrics): void {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "latin1");
    const hwm = /VmHWM:\s+(\d+)/.exec(status);
    if (hwm !== null) into.peakRssKb = Math.max(into.peakRssKb ?? 0, Number(hwm[1]));
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // Fields after "comm" (which may hold spaces): state is [0], utime [11], stime [12].
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    if (Number.isFinite(ticks)) into.cpuMs = Math.max(into.cpuMs ?? 0, ticks * TICK_MS);
  } catch {
    // no /proc, or the process already exited
  }
}
