import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { renderPrefect } from "../../src/render/prefect.js";
import type { TaskSpec } from "../../src/spec/types.js";
import { graphOf, specFor } from "./fixtures.js";
import { binDir, runFlow } from "./prefect-harness.js";

/**
 * A fake `dagwright` for scheduling: `--list-items` lists KEYS; an item run of task T marks
 * itself in `running/`, records how many items run with it, waits (a file barrier, given by
 * the test) and moves to `done/`; any other run writes `done/<task>`. A barrier that is not met
 * within 20 s makes the run fail (the flow fails, never hangs).
 */
const FAKE = `
import json, os, sys, time
keys = json.loads(os.environ["FAKE_KEYS"])
args = sys.argv[1:]
task = args[-1]
os.makedirs("running", exist_ok=True)
os.makedirs("done", exist_ok=True)
if "--list-items" in args:
    print(json.dumps(keys))
    sys.exit(0)
item = next((a.split("=", 1)[1] for a in args if a.startswith("--item-b64=")), None)
if item is None and os.environ.get("FAKE_FAIL") == task:
    sys.exit("failed on purpose: " + task)
if item is None:
    open(os.path.join("done", task), "w").close()
    sys.exit(0)
key = item  # the listed key, as the listing printed it
mine = os.path.join("running", task + "." + key)
open(mine, "w").close()
with open("counts", "a") as f:
    f.write("%s %d\\n" % (task, len([n for n in os.listdir("running") if n.startswith(task + ".")])))

def met():
    want = os.environ.get("FAKE_WAIT_FOR_" + task)
    if want is not None:
        return os.path.exists(os.path.join("done", want))
    size = int(os.environ.get("FAKE_FILL", "0"))
    running = [n for n in os.listdir("running") if n.startswith(task + ".")]
    finished = [n for n in os.listdir("done") if n.startswith(task + ".")]
    return len(running) >= size or len(running) + len(finished) == len(keys)

deadline = time.monotonic() + 20
while not met():
    if time.monotonic() > deadline:
        sys.exit("barrier not met: " + mine)
    time.sleep(0.01)
with open("counts", "a") as f:
    f.write("%s %d\\n" % (task, len([n for n in os.listdir("running") if n.startswith(task + ".")])))
os.rename(mine, os.path.join("done", task + "." + key))
`;

function render(adjacency: Record<string, string[]>, tasks: Record<string, Partial<TaskSpec>>) {
  const graph = graphOf("g", adjacency, tasks);
  const files = renderPrefect({ spec: specFor(graph), graph, config: {}, options: {} }).files;
  const dir = mkdtempSync(path.join(os.tmpdir(), "dagwright-sched-"));
  writeFileSync(path.join(dir, "flow.py"), files["g_flow.py"]!);
  return dir;
}

function run(dir: string, env: Record<string, string>) {
  const bin = binDir(
    `import os\n${Object.entries(env)
      .map(([k, v]) => `os.environ[${JSON.stringify(k)}] = ${JSON.stringify(v)}`)
      .join("\n")}\n${FAKE}`,
  );
  return runFlow(path.join(dir, "flow.py"), dir, bin);
}

/** The tasks whose bodies ran, sorted (threads submit in either order). */
function ranTasks(r: ReturnType<typeof run>): string[] {
  return r.runs
    .filter((x) => x.ran)
    .map((x) => x.task)
    .sort();
}

describe("render prefect: scheduling", () => {
  it("runs a unit that does not depend on a fan-out while the fan-out's items still run", () => {
    // `other` is after `each` in the flow; each item waits until `other` has run.
    const dir = render(
      { keys: [], each: ["keys"], other: ["keys"], last: ["each", "other"] },
      { each: { mapOver: ["k"] } },
    );
    const r = run(dir, { FAKE_KEYS: '["a", "b"]', FAKE_WAIT_FOR_each: "other" });
    expect(r.error).toBeNull();
    // (The listing and `other` are submitted at once, from two threads: in either order.)
    expect(ranTasks(r)).toEqual(["each", "each", "each-items", "keys", "last", "other"]);
  });

  it("runs two independent fan-outs at once: an item of one waits for the other's to end", () => {
    const dir = render(
      { keys: [], one: ["keys"], two: ["keys"], last: ["one", "two"] },
      { one: { mapOver: ["k"] }, two: { mapOver: ["k"] } },
    );
    const r = run(dir, { FAKE_KEYS: '["a"]', FAKE_WAIT_FOR_one: "two.a" });
    expect(r.error).toBeNull();
    expect(ranTasks(r)).toEqual(["keys", "last", "one", "one-items", "two", "two-items"].sort());
  });

  it("runs every item of a fan-out that does not depend on a failed unit, then fails the flow", () => {
    // `bad` comes first in the flow and fails at once; each item waits until the other has
    // started, so the items are still to be submitted when `bad` has failed.
    const dir = render({ bad: [], keys: [], each: ["keys"] }, { each: { mapOver: ["k"] } });
    const r = run(dir, { FAKE_KEYS: '["a", "b"]', FAKE_FAIL: "bad", FAKE_FILL: "2" });
    expect(r.error).toMatch(/failed on purpose: bad/);
    expect(ranTasks(r)).toEqual(["bad", "each", "each", "each-items", "keys"]);
  });

  it("keeps group_size items running at once and never more, the next starting as one ends", () => {
    for (const size of [1, 2, 3]) {
      const dir = render(
        { keys: [], each: ["keys"] },
        { each: { mapOver: ["k"], groupSize: size } },
      );
      // Each item waits until `size` items run (or all the rest have): so a window that is
      // smaller than group_size, or items that run one window after another, fail the barrier.
      const r = run(dir, {
        FAKE_KEYS: JSON.stringify(["a", "b", "c", "d", "e", "f", "g"]),
        FAKE_FILL: String(size),
      });
      expect(r.error, `group_size ${size}`).toBeNull();
      const counts = readFileSync(path.join(dir, "counts"), "utf8")
        .trim()
        .split("\n")
        .map((l) => Number(l.split(" ")[1]));
      expect(Math.max(...counts), `group_size ${size}`).toBe(size);
    }
  });
});
