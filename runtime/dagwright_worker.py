"""dagwright's warm Python worker (started by src/tasks/python-worker-pool.ts; not a public API).

Usage: python3 -u dagwright_worker.py

One long-lived process serves many calls, one at a time, each calling one task function for
the items of one bundle. The protocol is newline-delimited JSON on the worker's original stdin
and stdout. At start those two are moved to private descriptors: fd 0 then reads /dev/null, and
fds 1 and 2 point at the call's log during a call (at the original stderr between calls), so a
task's prints, C extensions and child processes write to the log and never to the protocol.

  out: {"ready": true, "pid": N}                                                     once
  in:  {"id", "task", "file" (absolute), "display", "function", "function_explicit", "root",
        "env", "inputs": {deps, args, config}, "pipeline_config",
        "items": [{"key", "values"}], "log_path"}
  out: {"id", "i", "ok": true, "ms", "result"} | {"id", "i", "ok": false, "ms", "error"}
         one per item, in order, each written before the next item starts
       {"id", "done": true, "rusage"}                       after the last item
       {"id", "done": true, "error", "rusage"}              the call failed before its items ran
       {"id", "done": true, "script": true}                 the file has no such function: run it
                                                            as a script, one process per item

A task module is imported once and kept while its file (and every project module imported
since) is unchanged; when one changes, all project modules are dropped and imported again.
Parameters are bound exactly as dagwright_task.py binds them, item values first.
Uses only the standard library.
"""

import ast
import asyncio
import faulthandler
import importlib
import importlib.util
import inspect
import json
import os
import sys
import time
import traceback

# No __pycache__ next to dagwright's own runtime files (the package folder may be read-only, and
# a stray .pyc must not end up committed); task modules keep the interpreter's setting.
_write_bytecode = sys.dont_write_bytecode
sys.dont_write_bytecode = True
import dagwright_task as rt  # noqa: E402

sys.dont_write_bytecode = _write_bytecode

# The runtime folder is not the task's: keep it off the import path (like dagwright_task.run).
_HERE = os.path.dirname(os.path.abspath(__file__))
while _HERE in sys.path:
    sys.path.remove(_HERE)

# Task modules by absolute path: (stamp, module name, module).
_tasks = {}
# Script-or-function decisions by (path, function, explicit): (stamp, is_script).
_kinds = {}
# Project modules (task modules and what they import from the project), by file: their stamp when
# first seen, right after the call that imported them.
_local = {}
# sys.modules names already looked at, local or not.
_seen = set()
_local_names = set()


def stamp(path):
    st = os.stat(path)
    return (st.st_mtime_ns, st.st_size)


def stamp_or_none(path):
    try:
        return stamp(path)
    except OSError:
        return None


def is_project_file(path, dirs):
    if "site-packages" in path or "dist-packages" in path:
        return False
    return any(path.startswith(d + os.sep) for d in dirs)


def note_local_modules(dirs):
    """Records the stamp of each newly imported module whose file lies in a project folder."""
    for name, module in list(sys.modules.items()):
        if name in _seen:
            continue
        _seen.add(name)
        path = getattr(module, "__file__", None)
        if not isinstance(path, str):
            continue
        path = os.path.abspath(path)
        if is_project_file(path, dirs):
            _local_names.add(name)
            if path not in _local:
                s = stamp_or_none(path)
                if s is not None:
                    _local[path] = s


def drop_changed_modules():
    """When a project module changed on disk, forgets every project module, so all re-import."""
    if all(stamp_or_none(p) == s for p, s in _local.items()):
        return
    for name in _local_names:
        sys.modules.pop(name, None)
        _seen.discard(name)
    _local_names.clear()
    _local.clear()
    _tasks.clear()
    importlib.invalidate_caches()


def load_task_module(path):
    current = stamp(path)
    cached = _tasks.get(path)
    if cached is not None and cached[0] == current:
        return cached[2]
    name = cached[1] if cached is not None else module_name_for(path)
    if name is None or (name in sys.modules and (cached is None or cached[1] != name)):
        name = f"dagwright_task_{len(_tasks)}_{abs(hash(path))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    _tasks[path] = (current, name, module)
    return module


def module_name_for(path):
    stem = os.path.splitext(os.path.basename(path))[0]
    return stem if stem.isidentifier() else None


def is_script(req):
    path = req["file"]
    key = (path, req["function"], bool(req["function_explicit"]))
    current = stamp(path)
    cached = _kinds.get(key)
    if cached is not None and cached[0] == current:
        return cached[1]
    if req["function_explicit"]:
        answer = False
    else:
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), filename=path)
        answer = not rt.entry_of(tree, req["function"], False, req["display"])
    _kinds[key] = (current, answer)
    return answer


_OWN_FILES = {os.path.abspath(__file__), os.path.abspath(rt.__file__)}


def print_task_traceback(exc):
    """The traceback from the task's first frame on: the worker's own frames are noise."""
    tb = exc.__traceback__
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) in _OWN_FILES:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb)


def usage():
    u = rt.usage()
    return u if u is not None else {}


class Channel:
    """The protocol's two ends, moved off fds 0 and 1; fds 1 and 2 then follow the current log."""

    def __init__(self):
        self.inp = os.fdopen(os.dup(0), "rb")
        self.out = os.fdopen(os.dup(1), "wb")
        self.between = os.dup(2)  # where stray output goes between calls
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(self.between, 1)

    def send(self, text):
        self.out.write(text.encode("utf-8") + b"\n")
        self.out.flush()

    def to_log(self, path):
        flush_std()
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)

    def off_log(self):
        flush_std()
        os.dup2(self.between, 1)
        os.dup2(self.between, 2)


def flush_std():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream must not stop the worker
            pass


def log_line(text):
    flush_std()
    try:
        os.write(2, (text + "\n").encode("utf-8", "replace"))
    except OSError:
        pass


def prepare_paths(req):
    root = req["root"]
    env = req.get("env") or {}
    extra = [p for p in (env.get("DAGWRIGHT_PYTHONPATH") or os.environ.get("DAGWRIGHT_PYTHONPATH", "")).split(":") if p]
    dirs = [os.path.dirname(req["file"]), root] + [os.path.join(root, p) for p in extra]
    for d in reversed(dirs):
        while d in sys.path:
            sys.path.remove(d)
        sys.path.insert(0, d)
    return [os.path.abspath(d) for d in dirs]


def apply_env(env):
    saved = [(k, os.environ.get(k)) for k in env]
    os.environ.update({k: str(v) for k, v in env.items()})

    def restore():
        for k, v in saved:
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    return restore


def call_item(task, fn, func, inputs, values, configs):
    """Calls the function for one item; returns the result's JSON text."""
    positional, keywords = rt.bind(task, fn, func, {**inputs, "item": values}, *configs)
    value = func(*positional, **keywords)
    if inspect.isawaitable(value):

        async def wait():
            return await value

        value = asyncio.run(wait())
    return rt.to_json(task, value)


def run_items(chan, req, func):
    configs = rt.configs_of(req["task"], req["pipeline_config"], req["inputs"]["config"])
    try:
        run_bundle(chan, req, func, configs)
    finally:
        if configs[2] is not None:
            configs[2].close()


def run_bundle(chan, req, func, configs):
    rid, task, fn = req["id"], req["task"], req["function"]
    inputs = req["inputs"]
    for i, item in enumerate(req["items"]):
        key = item["key"]
        log_line(f"# item {key}")
        started = time.perf_counter()
        result = error = None
        try:
            result = call_item(task, fn, func, inputs, item["values"], configs)
        except SystemExit as e:
            if e.code is None or e.code == 0:
                result = "null"
            elif isinstance(e.code, int):
                error = f"exit code {e.code}"
            else:
                text = str(e.code).strip()
                print(text, file=sys.stderr)
                error = text.splitlines()[0] if text else "exit code 1"
        except rt.TaskFailure as e:
            error = str(e)
        except rt.kptn.ConfigError as e:
            error = f"task '{task}': {e}"
        except BaseException as e:  # noqa: BLE001 - one failing item must not stop the others
            print_task_traceback(e)
            error = rt.one_line(e)
        ms = (time.perf_counter() - started) * 1000
        if error is None:
            chan.send(f'{{"id": {rid}, "i": {i}, "ok": true, "ms": {ms:.3f}, "result": {result}}}')
        else:
            log_line(f"dagwright: task '{task}' item {key} failed: {error}")
            chan.send(json.dumps({"id": rid, "i": i, "ok": False, "ms": round(ms, 3), "error": error}))


def serve_call(chan, req):
    rid = req["id"]
    before = usage()
    os.chdir(req["root"])
    dirs = prepare_paths(req)
    drop_changed_modules()
    chan.to_log(req["log_path"])
    restore = apply_env(req.get("env") or {})
    error = None
    script = False
    try:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        try:
            if rt.kptn.is_kptn_project(req.get("env")):
                rt.kptn.install_compat()
            script = is_script(req)
            if not script:
                module = load_task_module(req["file"])
                fn = req["function"]
                func = getattr(module, fn, None)
                if func is None:
                    raise rt.TaskFailure(f"function '{fn}' not found in {req['display']}")
                if not callable(func):
                    raise rt.TaskFailure(f"'{fn}' in {req['display']} is a {type(func).__name__}, not a function")
        except rt.TaskFailure as e:
            error = str(e)
        except BaseException as e:  # noqa: BLE001 - an import error fails the call, not the worker
            print_task_traceback(e)
            error = rt.one_line(e)
        if error is None and not script:
            run_items(chan, req, func)
    finally:
        note_local_modules(dirs)
        chan.off_log()
        restore()
    if script:
        chan.send(json.dumps({"id": rid, "done": True, "script": True}))
        return
    after = usage()
    rusage = {}
    if "maxrss_kb" in after:
        rusage["maxrss_kb"] = after["maxrss_kb"]
    if "cpu_ms" in after and "cpu_ms" in before:
        rusage["cpu_ms"] = after["cpu_ms"] - before["cpu_ms"]
    reply = {"id": rid, "done": True, "rusage": rusage}
    if error is not None:
        reply["error"] = error
    chan.send(json.dumps(reply))


def main():
    chan = Channel()
    faulthandler.enable()  # writes to fd 2: the current call's log
    chan.send(json.dumps({"ready": True, "pid": os.getpid()}))
    for line in chan.inp:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            serve_call(chan, req)
        except Exception as e:  # noqa: BLE001 - e.g. the file vanished: fail this call only
            chan.off_log()
            traceback.print_exc()
            chan.send(json.dumps({"id": req.get("id"), "done": True, "error": rt.one_line(e), "rusage": {}}))


if __name__ == "__main__":
    main()
