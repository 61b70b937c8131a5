"""A stand-in for Prefect's `flow`/`task` API (2.x and 3.x), strict about keywords.

Like Prefect's default thread-pool task runner, `.submit()` and `.map()` return at once and run
the task body on a thread of its own once the runs it waits for (`wait_for`) have finished; a
future's `.result()` waits and re-raises the body's exception, `.wait()` only waits. As in
Prefect, a task can only be submitted where the flow run's context is (its thread, or a thread
running in a copy of that context). Every submitted run, with the runs it waited for and whether
its body ran, is recorded in RUNS in submission order.
"""

import contextvars
import inspect
import threading

RUNS = []
_LOCK = threading.Lock()
_FLOW_RUN = contextvars.ContextVar("flow_run", default=None)
# Flows by name (what a deployment's entrypoint names), for prefect.deployments.run_deployment.
FLOWS = {}
TASK_KWARGS = {
    "name", "description", "tags", "version", "cache_policy", "cache_key_fn", "cache_expiration",
    "task_run_name", "retries", "retry_delay_seconds", "retry_jitter_factor", "persist_result",
    "result_storage", "result_serializer", "result_storage_key", "cache_result_in_memory",
    "timeout_seconds", "log_prints", "refresh_cache", "on_completion", "on_failure",
    "retry_condition_fn", "viz_return_value", "asset_deps",
}
FLOW_KWARGS = {
    "name", "version", "flow_run_name", "retries", "retry_delay_seconds", "task_runner",
    "description", "timeout_seconds", "validate_parameters", "persist_result", "result_storage",
    "result_serializer", "cache_result_in_memory", "log_prints", "on_completion", "on_failure",
    "on_cancellation", "on_crashed", "on_running",
}


def _check(kind, allowed, kwargs):
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise TypeError(f"{kind}() got unexpected keyword arguments {unknown}")


class Future:
    def __init__(self, run):
        self.run = run
        self._done = threading.Event()
        self._value = self._error = None

    def _settle(self, value=None, error=None):
        self._value, self._error = value, error
        self._done.set()

    def wait(self, timeout=None):
        self._done.wait(timeout)

    def result(self, timeout=None):
        self._done.wait(timeout)
        if self._error is not None:
            raise self._error
        return self._value


class Task:
    def __init__(self, fn, kwargs):
        self.fn, self.kwargs = fn, kwargs
        self.name = kwargs.get("name", fn.__name__)

    def submit(self, *args, wait_for=None):
        if _FLOW_RUN.get() is None:
            raise RuntimeError(f"task {self.name} submitted outside a flow run's context")
        wait_for = list(wait_for or [])
        for f in wait_for:
            if not isinstance(f, Future):
                raise TypeError(f"wait_for takes futures, received {type(f).__name__}")
        inspect.signature(self.fn).bind(*args)
        with _LOCK:
            run = {"task": self.name, "args": list(args), "waited": [f.run for f in wait_for],
                   "index": len(RUNS), "ran": False}
            RUNS.append(run)
        future = Future(run["index"])
        context = contextvars.copy_context()
        threading.Thread(target=context.run, args=(self._body, run, args, wait_for, future),
                         daemon=True).start()
        return future

    def _body(self, run, args, wait_for, future):
        try:
            for f in wait_for:
                f.result()
        except Exception as e:  # noqa: BLE001 - an upstream failed: this run never starts
            future._settle(error=e)
            return
        run["ran"] = True
        try:
            future._settle(self.fn(*args))
        except Exception as e:  # noqa: BLE001 - a failed run is reported through its future
            run["error"] = str(e)
            future._settle(error=e)

    def map(self, keys, wait_for=None):
        return [self.submit(k, wait_for=wait_for) for k in keys]

    def __call__(self, *args):
        return self.submit(*args).result()


def task(fn=None, **kwargs):
    _check("task", TASK_KWARGS, kwargs)
    if fn is None:
        return lambda f: Task(f, kwargs)
    return Task(fn, kwargs)


def flow(fn=None, **kwargs):
    _check("flow", FLOW_KWARGS, kwargs)
    if fn is None:
        return lambda f: _Flow(f, kwargs)
    return _Flow(fn, kwargs)


class _Flow:
    def __init__(self, fn, kwargs):
        self.fn, self.kwargs = fn, kwargs
        self.name = kwargs.get("name", fn.__name__)
        FLOWS[self.name] = self

    def __call__(self, *args, **kwargs):
        token = _FLOW_RUN.set(self.name)
        try:
            return self.fn(*args, **kwargs)
        finally:
            _FLOW_RUN.reset(token)
