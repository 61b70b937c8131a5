import os from "node:os";
import type { GraphTask } from "../graph/graph.js";

/**
 * The cpu and memory slots of one local run: `jobs` cpus, and the machine's memory. A task claims
 * `compute.cpu` (rounded up, at least one, at most `jobs`) and `compute.memory`; a task that claims
 * more than is free waits, unless nothing runs (so an oversized claim still runs, alone).
 */
export class Slots {
  private readonly totalCpu: number;
  private readonly totalMemMiB = Math.floor(os.totalmem() / 1024 / 1024);
  private cpuInUse = 0;
  private memInUse = 0;
  private running = 0;

  constructor(jobs: number) {
    this.totalCpu = Math.max(1, jobs);
  }

  /** The cpus a task claims. */
  cpuOf(t: GraphTask): number {
    return Math.min(this.totalCpu, Math.max(1, Math.ceil(t.spec.compute.cpu ?? 1)));
  }

  /** The memory (MiB) a task claims. */
  memOf(t: GraphTask): number {
    return Math.min(this.totalMemMiB, t.spec.compute.memoryMiB ?? 0);
  }

  /** Whether a claim fits what is free now. */
  fits(cpu: number, mem: number): boolean {
    return (
      this.running === 0 ||
      (this.cpuInUse + cpu <= this.totalCpu && this.memInUse + mem <= this.totalMemMiB)
    );
  }

  /** Claims `cpu` cpus and `mem` MiB for a task that starts now. */
  take(cpu: number, mem: number): void {
    this.running++;
    this.cpuInUse += cpu;
    this.memInUse += mem;
  }

  /** Frees what {@link take} claimed. */
  give(cpu: number, mem: number): void {
    this.running--;
    this.cpuInUse -= cpu;
    this.memInUse -= mem;
  }
}
