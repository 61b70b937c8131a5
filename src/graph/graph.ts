import type { SourceLocation } from "../spec/diagnostic.js";
import type { TaskSpec } from "../spec/types.js";

/** A task as it appears in one graph: its definition plus this graph's edges and args. */
export interface GraphTask {
  name: string;
  spec: TaskSpec;
  /** Direct dependencies, as declared (duplicates removed). */
  deps: string[];
  /** Static args: task `args` < graph entry `args` < `extends` overrides. */
  args: Record<string, unknown>;
  /** Where this task's entry is declared (possibly in a parent graph). */
  location: SourceLocation;
}

/**
 * One named graph with `extends` resolved: plain, serializable data. `order` is a deterministic
 * topological order (dependencies first; declaration order among independent tasks).
 */
export interface Graph {
  name: string;
  tasks: Record<string, GraphTask>;
  order: string[];
  /** task → tasks that depend on it directly. */
  dependents: Record<string, string[]>;
}
