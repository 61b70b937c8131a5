"""kptn compatibility for Python tasks of kptn.yaml projects (used by dagwright_task.py and
dagwright_worker.py; not a public API).

- `install_compat()` puts dagwright's minimal `kptn` package (runtime/kptn_compat) on the import
  path when the real `kptn` is not importable, so task code that does
  `from kptn.util.pipeline_config import PipelineConfig` runs; the real kptn wins when installed.
- `ConfigResolver` gives config values kptn's meaning: a string `module.path:function` is imported
  and called (its parameters filled by name from the config, `task_info` with the task's name and
  language), once per task call and only when a task asks for that value.
- `PipelineConfig` and `RuntimeConfig` are what kptn passes as `pipeline_config` and
  `runtime_config`.
Uses only the standard library.
"""

import importlib
import importlib.util
import inspect
import os
import re
import sys

CALLABLE = re.compile(r"^([A-Za-z_][\w.]*):([A-Za-z_][\w.]*)$")
COMPAT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kptn_compat")


class ConfigError(Exception):
    """A config value that cannot be produced; the message is meant for the user as is."""


def is_kptn_project(env=None):
    return (env or os.environ).get("DAGWRIGHT_SPEC_FORMAT") == "kptn"


def install_compat():
    """Makes `import kptn` work: the real package when importable, else dagwright's minimal one."""
    if COMPAT_DIR in sys.path:
        return
    try:
        if importlib.util.find_spec("kptn") is not None:
            return
    except (ImportError, ValueError):
        pass
    sys.path.append(COMPAT_DIR)
    # Imported now, without bytecode beside dagwright's files; task imports find them loaded.
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        for name in ("kptn", "kptn.util", "kptn.util.pipeline_config", "kptn.util.runtime_config"):
            importlib.import_module(name)
    finally:
        sys.dont_write_bytecode = saved


class ConfigResolver:
    """Resolves config values for one task call; each `module:function` is called at most once."""

    def __init__(self, config, task_name):
        self.config = config
        self.task_info = {"task_name": task_name, "task_lang": "python", "task_language": "python"}
        self.made = {}
        self.busy = set()

    def value(self, key):
        return self.resolve(self.config[key], f"config.{key}")

    def resolve(self, value, where):
        if isinstance(value, dict):
            return {k: self.resolve(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, str):
            m = CALLABLE.match(value.strip())
            if m:
                return self.call(value.strip(), m.group(1), m.group(2), where)
        return value

    def call(self, text, module_name, attr_path, where):
        if text in self.made:
            return self.made[text]
        if text in self.busy:
            raise ConfigError(f'{where}: "{text}" needs its own value (a cycle between config functions)')
        self.busy.add(text)
        try:
            fn = self.load(text, module_name, attr_path, where)
            args, kwargs = self.arguments(text, fn, where)
            value = call_waiting_for_lock(fn, args, kwargs)
        finally:
            self.busy.discard(text)
        self.made[text] = value
        return value

    def load(self, text, module_name, attr_path, where):
        try:
            target = importlib.import_module(module_name)
        except ImportError as e:
            raise ConfigError(
                f'{where}: "{text}" names module {module_name}, which does not import ({type(e).__name__}: {e});'
                " a config value of the form module:function is called by kptn's rules (module paths are relative to the project root)"
            ) from e
        for part in attr_path.split("."):
            if not hasattr(target, part):
                raise ConfigError(f'{where}: "{text}": module {module_name} has no attribute {attr_path}')
            target = getattr(target, part)
        if not callable(target):
            raise ConfigError(
                f'{where}: "{text}": {module_name}.{attr_path} is {type(target).__name__}, not a function'
            )
        return target

    def arguments(self, text, fn, where):
        args, kwargs, missing = [], {}, []
        for p in inspect.signature(fn).parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if p.name == "task_info":
                value = dict(self.task_info)
            elif p.name in self.config:
                value = self.resolve(self.config[p.name], f"config.{p.name}")
            elif p.default is not p.empty:
                continue
            else:
                missing.append(p.name)
                continue
            if p.kind == p.POSITIONAL_ONLY:
                args.append(value)
            else:
                kwargs[p.name] = value
        if missing:
            raise ConfigError(
                f'{where}: "{text}" requires parameters that no config key provides: {", ".join(missing)}'
            )
        return args, kwargs

    def close(self):
        """Closes what the `duckdb` key produced (kptn closes the task's connection after it)."""
        text = self.config.get("duckdb")
        conn = self.made.get(text.strip()) if isinstance(text, str) else None
        self.made.clear()
        close = getattr(conn, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # noqa: BLE001 - a failing close must not fail a finished task
                pass


LOCK_WAIT_SECONDS = 60


def call_waiting_for_lock(fn, args, kwargs):
    """Calls a config function, retrying while another process holds the DuckDB file it opens
    (dagwright hashing a table, a SQL task of another run): DuckDB allows one writing process."""
    import time

    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - only DuckDB's lock conflict is retried
            if "Could not set lock" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class RuntimeConfig:
    """kptn's `runtime_config`: the resolved config by key, attribute or `get`, then the
    pipeline config's attributes."""

    def __init__(self, resolver, fallback=None):
        object.__setattr__(self, "_resolver", resolver)
        object.__setattr__(self, "_fallback", fallback)

    def get(self, key, default=None):
        return self._resolver.value(key) if key in self._resolver.config else default

    def as_dict(self):
        return {k: self._resolver.value(k) for k in self._resolver.config}

    def __getitem__(self, key):
        if key not in self._resolver.config:
            raise KeyError(key)
        return self._resolver.value(key)

    def __contains__(self, key):
        return key in self._resolver.config

    def __getattr__(self, name):
        if name in self._resolver.config:
            return self._resolver.value(name)
        fallback = self._fallback
        if fallback is not None and not name.startswith("_") and hasattr(fallback, name):
            value = getattr(fallback, name)
            if not callable(value):
                return value
        raise AttributeError(name)

    def __repr__(self):
        return f"RuntimeConfig({sorted(self._resolver.config)!r})"


class PipelineConfig:
    """kptn's `PipelineConfig`, with the fields dagwright fills: `scratch_dir` (the run's scratch
    directory), `externals_dir`, PIPELINE_NAME (the graph), TASKS_CONFIG_PATH (the spec file),
    PY_TASKS_DIRS and R_TASKS_DIRS; the other kptn fields keep kptn's defaults."""

    def __init__(self, scratch_dir=None, **fields):
        self.IMAGE = ""
        self.BRANCH = ""
        self.DATA_YEAR = "2022"
        self.STORAGE_KEY = ""
        self.SUBSET_MODE = False
        self.OUTPUT_STORETYPE = "fs"
        self.OUTPUT_FILETYPE = "csv"
        self.PIPELINE_NAME = ""
        self.PY_MODULE_PATH = ""
        self.TASKS_CONFIG_PATH = ""
        self.PY_TASKS_DIRS = ()
        self.R_TASKS_DIRS = ()
        for k, v in fields.items():
            setattr(self, k, v)
        if scratch_dir is None:
            base = os.getenv("SCRATCH_DIR") or os.path.join(os.getcwd(), "scratch")
            scratch_dir = os.path.join(base, self.STORAGE_KEY) if self.STORAGE_KEY else base
        self._scratch_dir = str(scratch_dir)

    @property
    def scratch_dir(self):
        return self._scratch_dir

    @property
    def externals_dir(self):
        return os.path.join(self._scratch_dir, "externals")

    def __getitem__(self, key):
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key, default=None):
        return getattr(self, key, default)

    def model_dump(self):
        out = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        out["scratch_dir"] = self._scratch_dir
        return out

    def __repr__(self):
        return f"PipelineConfig(scratch_dir={self._scratch_dir!r}, PIPELINE_NAME={self.PIPELINE_NAME!r})"


def pipeline_config_of(raw, env=None):
    """The `pipeline_config` of a kptn task from what the launcher sent."""
    env = env or os.environ
    dirs = [d for d in (env.get("DAGWRIGHT_PYTHONPATH") or "").split(":") if d]
    return PipelineConfig(
        scratch_dir=raw.get("scratch_dir"),
        PIPELINE_NAME=env.get("DAGWRIGHT_GRAPH", ""),
        TASKS_CONFIG_PATH=env.get("DAGWRIGHT_SPEC_FILE", ""),
        PY_TASKS_DIRS=tuple(dirs),
    )


def database_file(config, root):
    """The file kptn's `config.duckdb` connection opens (for SQL tasks to share it)."""
    kptn_dirs = [d for d in (os.environ.get("DAGWRIGHT_PYTHONPATH") or "").split(":") if d]
    for d in reversed([root] + [os.path.join(root, p) for p in kptn_dirs]):
        if d not in sys.path:
            sys.path.insert(0, d)
    install_compat()
    resolver = ConfigResolver(config, "dagwright")
    conn = resolver.value("duckdb")
    try:
        rows = conn.execute("PRAGMA database_list").fetchall()
    except AttributeError:
        raise ConfigError(
            f'config.duckdb: "{config["duckdb"]}" returned {type(conn).__name__}, not a DuckDB connection'
        ) from None
    finally:
        resolver.close()
    files = [r[2] for r in rows if r[1] == "main"] or [r[2] for r in rows]
    if not files or not files[0]:
        raise ConfigError(
            f'config.duckdb: "{config["duckdb"]}" opens an in-memory database, which SQL tasks and'
            " Python tasks cannot share"
        )
    return os.path.abspath(files[0])


def main(argv):
    """`python3 dagwright_kptn.py duckdb-path < {"config": …, "root": …}`: prints {"path"} or {"error"}."""
    import json

    if argv[1:] != ["duckdb-path"]:
        print("usage: dagwright_kptn.py duckdb-path < request.json", file=sys.stderr)
        return 2
    req = json.load(sys.stdin)
    os.chdir(req["root"])
    try:
        print(json.dumps({"path": database_file(req["config"], req["root"])}))
    except ConfigError as e:
        print(json.dumps({"error": str(e)}))
    except Exception as e:  # noqa: BLE001 - the user's function failed: say how
        print(json.dumps({"error": f"config.duckdb: {type(e).__name__}: {e}"}))
    return 0


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    sys.exit(main(sys.argv))
