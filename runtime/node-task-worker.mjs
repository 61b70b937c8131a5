// dagwright's TS/JS task worker (a worker thread started by src/tasks/node-worker-pool.ts, or a
// child process it forks in the project root when the pool's process sits elsewhere, since a
// thread cannot have a working directory of its own; not a public API). It imports each task
// module once and runs one call at a time. A TS module is first compiled into one ESM file cached
// under <root>/.dagwright/cache/ts (dist/tasks/compile-ts.js; a cache hit loads no compiler), so
// no loader hooks run in the worker:
//   in:  { id, task, url, display, fn, input, env }                      one call
//        { type: "batch", id, task, url, display, fn, base, items, env, eager }  one call per item
//        { type: "tasks", id, env, tasks: [{ task, url?, display?, fn?, input, env?, unset? }] }
//          several calls, one after another (ready tasks sent together: one message each way,
//          not one per task); url/display/fn default to the previous task's, env to `env`
//          changed by the task's own `env` and `unset`
//        { type: "load", modules: [{ url, compiled?, env? }] }  import modules ahead of their first
//          call (no reply); `compiled` is the compile-cache file, already checked by the sender;
//          `env` is set during the import
//   out: { type: "log", text }  console output of the running task, in order
//        { type: "done", id, ok: true, result } | { type: "done", id, ok: false, error }
//        batch: { type: "items", id, items } now and then, then { type: "done", id, ok, items }
//        where each item is { ok: true, result, ms } | { ok: false, error, ms }
//        tasks: { type: "log", text, task: index } for console output, { type: "tasks", id, items }
//        now and then, then { type: "done", id, ok: true, items }; an item is
//        { ok: true, result?, ms, callMs } | { ok: false, error, ms, callMs }
// Console output is sent on the same port as the result, so it always arrives first. During a
// batch the worker writes [call id, item index] and the item's start time into the shared
// `progress` buffer, so the pool can time out one item and name the one that was running.
// The buffer's fifth int counts the console output sent but not yet written by the pool: past
// LOG_WINDOW the task waits, so a task printing faster than the log is written cannot fill the
// runner's memory with queued messages.
// As a child process (src/tasks/process-worker.ts) the same messages go over its IPC channel; the
// progress buffer cannot be shared across processes, so item starts are also sent as
// { type: "progress", id, index, start } and console output is not held back (no shared count).
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  isMainThread,
  workerData as threadData,
  parentPort as threadPort,
  Worker,
} from "node:worker_threads";

const inProcess = isMainThread;
const parentPort = inProcess
  ? { postMessage: (msg) => process.send(msg), on: (event, fn) => process.on(event, fn) }
  : threadPort;
const workerData = inProcess ? { progress: new SharedArrayBuffer(24), preload: [] } : threadData;
if (inProcess) {
  // The pool going away (its process ended or killed us) leaves nothing to serve. A task busy in
  // synchronous code never sees the channel close, so a thread watches for the pool's process to
  // die (this process is then re-parented) and ends this one.
  process.on("disconnect", () => process.exit(0));
  const watchdog = new Worker(
    `const pool = ${process.ppid};
     setInterval(() => { if (process.ppid !== pool) process.kill(${process.pid}, "SIGKILL"); }, 500);`,
    { eval: true },
  );
  watchdog.unref();
  // What a worker thread's 'error' event would carry, before this process ends.
  const fatal = (err) => {
    const e = err instanceof Error ? err : new Error(String(err));
    process.send({ type: "fatal", name: e.name, message: e.message, stack: e.stack }, () =>
      process.exit(1),
    );
  };
  process.on("uncaughtException", fatal);
  process.on("unhandledRejection", fatal);
}

// Stack traces of compiled modules point at the original .ts lines (inline source maps).
process.setSourceMapsEnabled(true);

/** Module namespaces by file URL; a module is imported once per worker. */
const modules = new Map();

const progressIds = new Int32Array(workerData.progress, 0, 2);
const progressStart = new Float64Array(workerData.progress, 8, 1);
const logPending = new Int32Array(workerData.progress, 16, 1);
// In UTF-16 code units (string length), as the pool counts them back.
const LOG_WINDOW = 4 * 1024 * 1024;

// Item replies are sent in chunks: one message per item would double the cost of no-op items.
// With a timeout (`eager`) each reply is sent at once, since a hung item blocks this thread and
// the pool terminates it: replies still pending would be lost.
const FLUSH_MS = 20;
const FLUSH_ITEMS = 1000;

/** During a batch: the running item's key, until its first output line is marked in the log. */
let unmarkedKey;
/** During a tasks message: the index of the running task, whose log receives console output. */
let currentTask;

function send(text) {
  if (unmarkedKey !== undefined) {
    text = `# item ${unmarkedKey}\n${text}`;
    unmarkedKey = undefined;
  }
  // Bounded waits: the pool may terminate this thread meanwhile (a timeout, a cancel).
  for (let n = Atomics.load(logPending, 0); n > LOG_WINDOW; n = Atomics.load(logPending, 0)) {
    Atomics.wait(logPending, 0, n, 100);
  }
  if (!inProcess) Atomics.add(logPending, 0, text.length);
  if (currentTask !== undefined) parentPort.postMessage({ type: "log", text, task: currentTask });
  else parentPort.postMessage({ type: "log", text });
}

// Write callbacks not called yet, in order, as [callback, times] runs. They are called in one
// microtask after the current synchronous stretch of writes, not one microtask each: console.log
// passes the same callback every time, and a loop printing a million lines would otherwise hold a
// million queued microtasks until it returns.
let callbacks;

function callLater(cb) {
  if (callbacks === undefined) {
    callbacks = [];
    queueMicrotask(() => {
      const due = callbacks;
      callbacks = undefined;
      for (const [fn, times] of due) for (let i = 0; i < times; i++) fn();
    });
  }
  const last = callbacks[callbacks.length - 1];
  if (last !== undefined && last[0] === cb) last[1]++;
  else callbacks.push([cb, 1]);
}

for (const stream of [process.stdout, process.stderr]) {
  stream.write = (chunk, encoding, callback) => {
    send(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    const cb = typeof encoding === "function" ? encoding : callback;
    if (typeof cb === "function") callLater(cb);
    return true;
  };
}

function article(name) {
  return /^[aeiou]/i.test(name) ? `an ${name}` : `a ${name}`;
}

function describeValue(value) {
  if (value === null) return "null";
  if (typeof value !== "object") {
    return typeof value === "number" ? `the number ${value}` : article(typeof value);
  }
  return article(value.constructor?.name ?? "object without a prototype");
}

/** The first part of `value` that JSON cannot carry faithfully, with its path; else undefined. */
function jsonProblem(value, at, seen) {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined;
    case "number":
      return Number.isFinite(value) ? undefined : { at, value };
    case "object": {
      if (value === null) return undefined;
      if (seen.has(value)) return { at, what: "a circular reference" };
      const proto = Object.getPrototypeOf(value);
      const isArray = Array.isArray(value);
      if (!isArray && proto !== Object.prototype && proto !== null) return { at, value };
      seen.add(value);
      if (isArray) {
        for (let i = 0; i < value.length; i++) {
          const p = jsonProblem(value[i], `${at}[${i}]`, seen);
          if (p !== undefined) return p;
        }
      } else {
        for (const key of Object.keys(value)) {
          // JSON drops undefined properties; that loses nothing a caller could rely on.
          if (value[key] === undefined) continue;
          const p = jsonProblem(value[key], `${at}.${key}`, seen);
          if (p !== undefined) return p;
        }
      }
      seen.delete(value);
      return undefined;
    }
    default:
      return { at, value };
  }
}

function checkResult(task, value) {
  if (value === undefined) return undefined;
  const problem = jsonProblem(value, "", new Set());
  if (problem === undefined) return undefined;
  const what = problem.what ?? describeValue(problem.value);
  const where =
    problem.at === "" ? what : `${describeValue(value)} containing ${what} at ${problem.at}`;
  return `task '${task}' returned ${where}, which is not JSON-serializable (return plain objects, arrays, strings, finite numbers, booleans or null)`;
}

// A module that does not compile: every `cannot compile FILE:LINE:COL: …` error, no stack.
function isCompileError(err) {
  return err instanceof Error && err.name === "CompileError";
}

/** What the log shows of a thrown error. */
function logText(err) {
  if (isCompileError(err)) return `${err.message}\n`;
  return `${err instanceof Error && err.stack ? err.stack : String(err)}\n`;
}

function oneLine(err) {
  if (isCompileError(err)) return err.message.split("\n").join("; ");
  if (err instanceof Error) {
    const first = String(err.message).split("\n")[0];
    return first ? `${err.name}: ${first}` : err.name;
  }
  return String(err).split("\n")[0];
}

/** dist/tasks/compile-ts.js, loaded with the first module that needs it. */
let compiler;

function compile(file) {
  compiler ??= import(new URL("../dist/tasks/compile-ts.js", import.meta.url).href);
  return compiler.then((c) => c.compileTs(file, c.projectRootFor(file, process.cwd())));
}

async function importModule(url) {
  const file = url.startsWith("file:") ? fileURLToPath(url) : undefined;
  if (file !== undefined && /\.(?:[cm]?ts|tsx|jsx)$/.test(file)) {
    return import(pathToFileURL(await compile(file)).href);
  }
  try {
    return await import(url);
  } catch (err) {
    // A JS module importing a .ts one: Node refuses it before running any of it; compile it.
    if (file === undefined || err?.code !== "ERR_UNKNOWN_FILE_EXTENSION") throw err;
    return import(pathToFileURL(await compile(file)).href);
  }
}

async function load(url, compiled) {
  let ns = modules.get(url);
  if (ns === undefined) {
    ns = compiled === undefined ? importModule(url) : import(pathToFileURL(compiled).href);
    modules.set(url, ns);
  }
  try {
    return await ns;
  } catch (err) {
    modules.delete(url);
    throw err;
  }
}

// Applies the task's environment over process.env for one call and returns how to undo it.
function applyEnv(env) {
  const saved = [];
  for (const key of Object.keys(env)) {
    saved.push([key, process.env[key]]);
    process.env[key] = env[key];
  }
  return () => {
    for (const [key, value] of saved) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
}

// A CommonJS module's namespace repeats its named exports under `default`; listing that is noise.
function isCommonJsExports(ns) {
  const all = ns.default;
  if (typeof all !== "object" || all === null) return false;
  return Object.keys(ns).every(
    (k) => k === "default" || k === "module.exports" || all[k] === ns[k],
  );
}

async function resolveFunction(msg) {
  const ns = await load(msg.url);
  // A CommonJS module's exports may sit only under `default`.
  const fn =
    typeof ns[msg.fn] === "function"
      ? ns[msg.fn]
      : typeof ns.default?.[msg.fn] === "function"
        ? ns.default[msg.fn]
        : undefined;
  if (fn === undefined) {
    if (msg.fn in ns) {
      return {
        error: `export '${msg.fn}' of ${msg.display} is ${describeValue(ns[msg.fn])}, not a function`,
      };
    }
    const names = Object.keys(ns).filter(
      (k) => k !== "module.exports" && !(k === "default" && isCommonJsExports(ns)),
    );
    return {
      error: `function '${msg.fn}' not found in ${msg.display} (exports: ${names.length > 0 ? names.join(", ") : "none"})`,
    };
  }
  return { fn };
}

async function runTask(msg) {
  const { fn, error } = await resolveFunction(msg);
  if (error !== undefined) return { error };
  const result = await fn(msg.input);
  const problem = checkResult(msg.task, result);
  return problem === undefined ? { result } : { error: problem };
}

function markProgress(id, index) {
  progressStart[0] = Date.now();
  Atomics.store(progressIds, 1, index);
  Atomics.store(progressIds, 0, id);
  if (inProcess) parentPort.postMessage({ type: "progress", id, index, start: progressStart[0] });
}

/** Calls the function for each item in order; one failing item does not stop the others. */
async function runBatch(msg) {
  markProgress(msg.id, 0);
  const { fn, error } = await resolveFunction(msg);
  if (error !== undefined) return { error };
  const { base, items } = msg;
  let pending = [];
  let flushed = Date.now();
  for (let i = 0; i < items.length; i++) {
    const { key, values } = items[i];
    if (i > 0) markProgress(msg.id, i);
    unmarkedKey = key;
    const started = performance.now();
    let reply;
    try {
      let result = fn({ ...base.deps, ...values, ...base, item: values });
      if (result !== null && typeof result?.then === "function") result = await result;
      const problem = checkResult(msg.task, result);
      reply = problem === undefined ? { ok: true, result } : { ok: false, error: problem };
    } catch (err) {
      send(logText(err));
      reply = { ok: false, error: oneLine(err) };
    }
    reply.ms = performance.now() - started;
    if (!reply.ok) send(`dagwright: task '${msg.task}' item ${key} failed: ${reply.error}\n`);
    unmarkedKey = undefined;
    pending.push(reply);
    const now = msg.eager || pending.length >= FLUSH_ITEMS ? 0 : Date.now();
    if (now === 0 || now - flushed >= FLUSH_MS) {
      parentPort.postMessage({ type: "items", id: msg.id, items: pending });
      pending = [];
      flushed = Date.now();
    }
  }
  return { items: pending };
}

/**
 * A task's env over the message's shared env (already applied): only its own keys are set and
 * restored. The shared keys are checked afterwards, since a task may have changed one and the
 * next task must see the value it was given.
 */
function applyOwnEnv(m) {
  const saved = [];
  if (m.env !== undefined) {
    for (const key of Object.keys(m.env)) {
      saved.push([key, process.env[key]]);
      process.env[key] = m.env[key];
    }
  }
  for (const key of m.unset ?? []) {
    saved.push([key, process.env[key]]);
    delete process.env[key];
  }
  return () => {
    for (let i = saved.length - 1; i >= 0; i--) {
      const [key, value] = saved[i];
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
}

/**
 * Runs several tasks one after another. Replies go back in as few messages as possible: all at
 * the end, or the ones so far when FLUSH_MS passed, and before waiting on a task that returned a
 * promise (so a task waiting on I/O does not hold back the replies of the tasks before it).
 */
async function runTasks(msg) {
  const { tasks } = msg;
  // The message sends what tasks share once (see tasksMessage in node-worker-pool.ts): each task
  // takes url, display and fn from the one before unless it has its own, and its env is the first
  // task's with its own changes. Objects shared in one message would be shared by its tasks here:
  // each task gets its own copy of its input, as a message of its own would give it.
  const shared = msg.env;
  const sharedKeys = Object.keys(shared);
  const restoreShared = applyEnv(shared);
  try {
    return await runEach(msg, tasks, shared, sharedKeys);
  } finally {
    restoreShared();
  }
}

async function runEach(msg, tasks, shared, sharedKeys) {
  let pending = [];
  let flushed = performance.now();
  const flush = () => {
    if (pending.length > 0) parentPort.postMessage({ type: "tasks", id: msg.id, items: pending });
    pending = [];
    flushed = performance.now();
  };
  let url;
  let display;
  let fnName;
  for (let i = 0; i < tasks.length; i++) {
    const m = tasks[i];
    url = m.url ?? url;
    display = m.display ?? display;
    fnName = m.fn ?? fnName;
    const t = {
      task: m.task,
      url,
      display,
      fn: fnName,
      input: tasks.length > 1 ? structuredClone(m.input) : m.input,
    };
    markProgress(msg.id, i);
    currentTask = i;
    const restore = applyOwnEnv(m);
    const started = performance.now();
    let callStarted = started;
    let reply;
    try {
      const { fn, error } = await resolveFunction(t);
      if (error !== undefined) {
        reply = { ok: false, error };
      } else {
        callStarted = performance.now();
        let result = fn(t.input);
        if (result !== null && typeof result?.then === "function") {
          flush();
          result = await result;
        }
        const problem = checkResult(t.task, result);
        reply = problem === undefined ? { ok: true } : { ok: false, error: problem };
        if (problem === undefined && result !== undefined) reply.result = result;
      }
    } catch (err) {
      send(logText(err));
      reply = { ok: false, error: oneLine(err) };
    } finally {
      restore();
      for (const key of sharedKeys) {
        if (process.env[key] !== shared[key]) process.env[key] = shared[key];
      }
    }
    const now = performance.now();
    reply.ms = now - started;
    reply.callMs = now - callStarted;
    pending.push(reply);
    if (now - flushed >= FLUSH_MS) flush();
  }
  currentTask = undefined;
  return pending;
}

// Modules the pool asked every worker to import first (see NodeWorkerPool.prewarm), one after
// another, each with the env its first task would have given its top level. Calls wait for them,
// so no call's env is applied while a preload's is.
let preloading = Promise.resolve();

function preload(list) {
  const before = preloading;
  preloading = (async () => {
    await before;
    for (const { url, compiled, env } of list) {
      const restore = applyEnv(env ?? {});
      try {
        await load(url, compiled);
      } catch {
        // the first call imports it again and reports the error
      } finally {
        restore();
      }
    }
  })();
}

preload(workerData.preload ?? []);

parentPort.on("message", async (msg) => {
  if (msg.type === "load") {
    preload(msg.modules);
    return;
  }
  await preloading;
  if (msg.type === "tasks") {
    let items;
    try {
      items = await runTasks(msg);
    } catch (err) {
      // Only an internal error gets here: the tasks' own errors are their replies.
      currentTask = undefined;
      send(logText(err));
      items = [];
    }
    parentPort.postMessage({ type: "done", id: msg.id, ok: true, items });
    return;
  }
  const restore = applyEnv(msg.env);
  if (msg.type === "batch") {
    let reply;
    try {
      const out = await runBatch(msg);
      reply =
        out.error === undefined
          ? { type: "done", id: msg.id, ok: true, items: out.items }
          : { type: "done", id: msg.id, ok: false, error: out.error };
    } catch (err) {
      unmarkedKey = undefined;
      send(logText(err));
      reply = { type: "done", id: msg.id, ok: false, error: oneLine(err) };
    } finally {
      restore();
    }
    parentPort.postMessage(reply);
    return;
  }
  let reply;
  try {
    const out = await runTask(msg);
    reply =
      out.error === undefined
        ? { type: "done", id: msg.id, ok: true, result: out.result }
        : { type: "done", id: msg.id, ok: false, error: out.error };
  } catch (err) {
    send(logText(err));
    reply = { type: "done", id: msg.id, ok: false, error: oneLine(err) };
  } finally {
    restore();
  }
  parentPort.postMessage(reply);
});
