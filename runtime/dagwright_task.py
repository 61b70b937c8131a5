"""dagwright's Python task runner (started by src/tasks/launch-task.ts; not a public API).

Usage: python3 dagwright_task.py REQUEST.json

REQUEST.json holds: task, file (absolute), display (the path as written in the spec), function,
function_explicit, inputs {deps, args, config, item}, pipeline_config, result_path.

The runner calls the task function with parameters bound by name, or runs the file as a script
when the function is not defined, was not named explicitly, and the file defines no function
or has a main block (see `entry_of`), then writes RESULT.json:
  {"ok": true, "result": <json>} | {"ok": true, "script": true}
  | {"ok": false, "error": "<one line>"} | {"ok": false, "exit_code": N}
always with "rusage": {"maxrss_kb", "cpu_ms"}. Tracebacks go to stderr (the log).
Uses only the standard library.
"""

import ast
import asyncio
import importlib.util
import inspect
import json
import os
import pathlib
import re
import runpy
import sys
import traceback
import typing

# No __pycache__ next to dagwright's own runtime files (see dagwright_worker.py).
_write_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
import dagwright_kptn as kptn  # noqa: E402

sys.dont_write_bytecode = _write_bytecode

try:
    import resource
except ImportError:  # not on Windows
    resource = None


class TaskFailure(Exception):
    """A failure with a message meant for the user as is (no traceback)."""


class Settings(dict):
    """A dict whose keys also read as attributes: `pipeline_config.scratch_dir`."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class NotJson(Exception):
    def __init__(self, value):
        super().__init__(type(value).__name__)
        self.value = value


def _not_json(value):
    raise NotJson(value)


def _article(name):
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


def to_json(task, value):
    """Serialises a task's return value, naming the offending type when it is not plain data."""
    try:
        return json.dumps(value, allow_nan=False, default=_not_json)
    except NotJson as e:
        bad = type(e.value).__name__
        what = _article(bad) if e.value is value else f"{_article(type(value).__name__)} containing {_article(bad)}"
    except ValueError as e:
        inner = "a circular reference" if "ircular" in str(e) else "a NaN or infinity"
        what = "a float NaN or infinity" if isinstance(value, float) else f"{_article(type(value).__name__)} containing {inner}"
    except TypeError as e:
        what = f"{_article(type(value).__name__)} with a key that is not a string ({e})"
    raise TaskFailure(
        f"task '{task}' returned {what}, which is not JSON-serializable"
        " (return lists, dicts, strings, numbers, booleans or None; write other data to an output file)"
    )


def binds_name(tree, name):
    """True when the module's top level may bind `name` (def, class, assignment, import)."""

    def in_body(body):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if node.name == name:
                    return True
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    if alias.name == "*" or (alias.asname or alias.name.split(".")[0]) == name:
                        return True
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name) and n.id == name:
                            return True
            elif isinstance(node, ast.If):
                # A def under `if __name__ == "__main__":` does not exist on import.
                if not is_main_guard(node.test) and in_body(node.body):
                    return True
                if in_body(node.orelse):
                    return True
            elif isinstance(node, (ast.Try, ast.With)):
                bodies = [node.body]
                if isinstance(node, ast.Try):
                    bodies += [node.orelse, node.finalbody] + [h.body for h in node.handlers]
                if any(in_body(b) for b in bodies):
                    return True
        return False

    return in_body(tree.body)


def entry_of(tree, fn, explicit, display):
    """How the task file runs, by the rule `validate` shares (src/spec/check-task-functions.ts):
    True to call `fn`, False to run the file as a script. A file named without a function that
    defines functions, none of them `fn`, and has no main block would only define them: that
    raises TaskFailure instead of succeeding without doing anything."""
    if explicit or binds_name(tree, fn):
        return True
    funcs = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    has_main = any(isinstance(n, ast.If) and is_main_guard(n.test) for n in tree.body)
    if funcs and not has_main:
        raise TaskFailure(
            f"{display} defines functions ({', '.join(funcs)}) but none named after the task \"{fn}\","
            f" and has no `if __name__ == \"__main__\":` block, so running it would only define them"
            f" (name the function with `file: {display}:func`, or add a main block)"
        )
    return False


def is_main_guard(test):
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def wants_path(annotation):
    if isinstance(annotation, str):  # `from __future__ import annotations`
        return re.search(r"\b(Pure)?Path\b", annotation) is not None
    if isinstance(annotation, type):
        return issubclass(annotation, pathlib.PurePath)
    return any(wants_path(a) for a in typing.get_args(annotation))


def bind(task, func_name, func, inputs, pipeline_config, runtime_config, resolver=None):
    """Fills each parameter by name: item and deps, args, config keys, the two configs, default.
    With a `resolver` (kptn projects), config values go through it (`module:function` calls)."""
    config = inputs["config"]
    sources = [inputs.get("item") or {}, inputs["deps"], inputs["args"], config]
    special = {"pipeline_config": pipeline_config, "runtime_config": runtime_config}
    positional, keywords, missing = [], {}, []
    for p in inspect.signature(func).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        for source in sources:
            if p.name in source:
                value = source[p.name]
                if source is config and resolver is not None:
                    value = resolver.value(p.name)
                break
        else:
            if p.name in special:
                value = special[p.name]
            elif p.default is not p.empty:
                if p.kind == p.POSITIONAL_ONLY:
                    positional.append(p.default)
                continue
            else:
                missing.append(p.name)
                continue
        if isinstance(value, str) and wants_path(p.annotation):
            value = pathlib.Path(value)
        if p.kind == p.POSITIONAL_ONLY:
            positional.append(value)
        else:
            keywords[p.name] = value
    if missing:
        raise TaskFailure(
            f"Task '{task}' callable '{func_name}' is missing required arguments: {', '.join(missing)}"
        )
    return positional, keywords


def load_module(path):
    name = pathlib.Path(path).stem
    if name in sys.modules or not name.isidentifier():
        name = f"dagwright_task_{abs(hash(path))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def run_script(path, item):
    os.environ.update({k: str(v) for k, v in item.items()})
    sys.argv = [path]
    runpy.run_path(path, run_name="__main__")


def run(req, out):
    task, path, fn = req["task"], req["file"], req["function"]
    root = os.getcwd()
    # The runner's own folder is not the task's: keep it off the import path.
    here = os.path.dirname(os.path.abspath(__file__))
    if here in sys.path:
        sys.path.remove(here)
    extra = [p for p in os.environ.get("DAGWRIGHT_PYTHONPATH", "").split(":") if p]
    for d in reversed([os.path.dirname(path), root] + [os.path.join(root, p) for p in extra]):
        if d in sys.path:
            sys.path.remove(d)
        sys.path.insert(0, d)

    if kptn.is_kptn_project():
        kptn.install_compat()
    with open(path, "rb") as f:
        tree = ast.parse(f.read(), filename=path)
    item = req["inputs"].get("item") or {}
    if not entry_of(tree, fn, req["function_explicit"], req["display"]):
        out["script"] = True
        run_script(path, item)
        return

    module = load_module(path)
    func = getattr(module, fn, None)
    if func is None:
        raise TaskFailure(f"function '{fn}' not found in {req['display']}")
    if not callable(func):
        raise TaskFailure(f"'{fn}' in {req['display']} is a {type(func).__name__}, not a function")
    pc, rc, resolver = configs_of(task, req["pipeline_config"], req["inputs"]["config"])
    try:
        positional, keywords = bind(task, fn, func, req["inputs"], pc, rc, resolver)
        value = func(*positional, **keywords)
        if inspect.isawaitable(value):

            async def wait():
                return await value

            value = asyncio.run(wait())
    except kptn.ConfigError as e:
        raise TaskFailure(f"task '{task}': {e}") from None
    finally:
        if resolver is not None:
            resolver.close()
    out["result_json"] = to_json(task, value)


def configs_of(task, pipeline_config, config):
    """`pipeline_config`, `runtime_config` and the config resolver of a call: kptn's objects in a
    kptn.yaml project (config values that name `module:function` are called), else plain dicts."""
    if not kptn.is_kptn_project():
        return Settings(pipeline_config), Settings(config), None
    resolver = kptn.ConfigResolver(config, task)
    pc = kptn.pipeline_config_of(pipeline_config)
    return pc, kptn.RuntimeConfig(resolver, pc), resolver


def usage():
    if resource is None:
        return None
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    per_kb = 1024 if sys.platform == "darwin" else 1  # macOS reports bytes
    return {
        "maxrss_kb": max(me.ru_maxrss, kids.ru_maxrss) // per_kb,
        "cpu_ms": round((me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime) * 1000),
    }


def one_line(exc):
    text = str(exc).strip().splitlines()
    name = type(exc).__name__
    return f"{name}: {text[0]}" if text else name


def main(argv):
    with open(argv[1], encoding="utf-8") as f:
        req = json.load(f)
    out = {}
    code = 0
    try:
        run(req, out)
    except SystemExit as e:
        if e.code is None or e.code == 0:
            pass
        elif isinstance(e.code, int):
            code = e.code
            out["exit_code"] = code
        else:
            print(e.code, file=sys.stderr)
            code = 1
            out["error"] = str(e.code).strip().splitlines()[0] if str(e.code).strip() else "exit code 1"
    except TaskFailure as e:  # launch-task.ts writes the message to the log
        code = 1
        out["error"] = str(e)
    except BaseException as e:  # noqa: BLE001 - report every failure, KeyboardInterrupt included
        traceback.print_exc()
        code = 1
        out["error"] = one_line(e)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream must not hide the result
            pass

    parts = [f'"ok": {"true" if code == 0 else "false"}']
    if "result_json" in out:
        parts.append(f'"result": {out["result_json"]}')
    for key in ("script", "error", "exit_code"):
        if key in out:
            parts.append(f"{json.dumps(key)}: {json.dumps(out[key])}")
    parts.append(f'"rusage": {json.dumps(usage())}')
    tmp = req["result_path"] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("{" + ", ".join(parts) + "}")
    os.replace(tmp, req["result_path"])
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
