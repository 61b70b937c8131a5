import { readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";

// undefined: not read yet; null: this system has none (no /proc).
let bootId: string | null | undefined;

/** This boot of the machine (Linux's random boot id); undefined without `/proc`. */
export function currentBootId(): string | undefined {
  return readBootId() ?? undefined;
}

function readBootId(): string | null {
  if (bootId === undefined) {
    try {
      bootId = readFileSync("/proc/sys/kernel/random/boot_id", "latin1").trim() || null;
    } catch {
      bootId = null;
    }
  }
  return bootId;
}

/**
 * What tells the live process `pid` from every other process that ever had or will have that
 * pid: the machine's boot id and the process's start time in clock ticks since boot
 * (`/proc/<pid>/stat` field 22), as `"<boot id>:<ticks>"`. Two calls for one process give the
 * same string, on any later boot or for a recycled pid a different one.
 *
 * Undefined when no live process has that pid (a zombie counts as dead) or the system has no
 * `/proc` (only Linux is supported). Never throws.
 */
export function processStartMarker(pid: number): string | undefined {
  const boot = readBootId();
  if (boot === null || !Number.isInteger(pid) || pid <= 0) return undefined;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return undefined;
  }
  // "comm" (field 2) may hold spaces and parentheses: count fields from its closing one.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const [state] = fields;
  const ticks = fields[19];
  if (state === "Z" || state === "X" || ticks === undefined || ticks === "") return undefined;
  return `${boot}:${ticks}`;
}

let hostIdentity: string | undefined;

/**
 * Which process table a pid belongs to: the host name, plus the PID namespace when this process
 * is in another than the machine's first (containers sharing a host name and a boot, e.g. host
 * networking, see one another's hostname but not one another's processes). Records of other
 * identities are never judged against this process table.
 */
export function processTableId(): string {
  if (hostIdentity === undefined) {
    let ns = "";
    try {
      ns = readlinkSync("/proc/self/ns/pid"); // "pid:[4026531836]"
    } catch {
      // no /proc: the host name alone
    }
    hostIdentity = ns === "" ? hostname() : `${hostname()} ${ns}`;
  }
  return hostIdentity;
}
