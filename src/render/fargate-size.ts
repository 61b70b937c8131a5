/**
 * The task sizes AWS Fargate accepts: cpu units (1024 = 1 vCPU) and, for each, the memory range
 * in MiB and its step. Source: the ECS developer guide, "Task CPU and memory" (Linux).
 */
export const FARGATE_SIZES: readonly {
  cpu: number;
  minMiB: number;
  maxMiB: number;
  stepMiB: number;
}[] = [
  { cpu: 256, minMiB: 512, maxMiB: 2048, stepMiB: 512 },
  { cpu: 512, minMiB: 1024, maxMiB: 4096, stepMiB: 1024 },
  { cpu: 1024, minMiB: 2048, maxMiB: 8192, stepMiB: 1024 },
  { cpu: 2048, minMiB: 4096, maxMiB: 16384, stepMiB: 1024 },
  { cpu: 4096, minMiB: 8192, maxMiB: 30720, stepMiB: 1024 },
  { cpu: 8192, minMiB: 16384, maxMiB: 61440, stepMiB: 4096 },
  { cpu: 16384, minMiB: 32768, maxMiB: 122880, stepMiB: 8192 },
];

/**
 * The smallest valid Fargate size with at least `vcpus` vCPUs and `memoryMiB` MiB: the smallest
 * cpu whose memory range reaches the memory, then the memory rounded up to that cpu's step and
 * at least its minimum (256 cpu only allows 512, 1024 and 2048 MiB). Undefined values ask for
 * nothing. Returns undefined when the request is larger than the largest size (16 vCPU, 120 GiB).
 */
export function fargateSize(
  vcpus: number | undefined,
  memoryMiB: number | undefined,
): { cpu: number; memoryMiB: number } | undefined {
  const units = Math.ceil((vcpus ?? 0) * 1024 - 1e-6);
  const mem = Math.ceil((memoryMiB ?? 0) - 1e-6);
  for (const s of FARGATE_SIZES) {
    if (s.cpu < units || s.maxMiB < mem) continue;
    const stepped = Math.ceil(Math.max(mem, s.minMiB) / s.stepMiB) * s.stepMiB;
    // 256 cpu: 512, 1024, 2048 (no 1536).
    const memory = s.cpu === 256 && stepped === 1536 ? 2048 : stepped;
    return { cpu: s.cpu, memoryMiB: memory };
  }
  return undefined;
}
