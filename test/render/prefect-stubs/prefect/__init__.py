"""A synchronous stand-in for Prefect's `flow`/`task` API (2.x and 3.x), strict about keywords.

`.submit()` and `.map()` run the task body at once, in submission order; a future's `.result()`
re-raises the body's exception. Every run, with the runs it waited for, is recorded in RUNS.
"""

import inspect

RUNS = []
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
    def __init__(self, run, value=None, error=None):
        self.run, self._value, self._error = run, value, error

    def result(self):
        if self._error is not None:
            raise self._error
        return self._value


class Task:
    def __init__(self, fn, kwargs):
        self.fn, self.kwargs = fn, kwargs
        self.name = kwargs.get("name", fn.__name__)

    def _run(self, args, wait_for):
        waited = []
        for f in wait_for or []:
            if not isinstance(f, Future):
                raise TypeError(f"wait_for takes futures, received {type(f).__name__}")
            f.result()
            waited.append(f.run)
        inspect.signature(self.fn).bind(*args)
        run = {"task": self.name, "args": list(args), "waited": waited, "index": len(RUNS)}
        RUNS.append(run)
        try:
            return Future(run["index"], self.fn(*args))
        except Exception as e:  # noqa: BLE001 - a failed run is reported through its future
            run["error"] = str(e)
            return Future(run["index"], error=e)

    def submit(self, *args, wait_for=None):
        return self._run(args, wait_for)

    def map(self, keys, wait_for=None):
        return [self._run((k,), wait_for) for k in keys]

    def __call__(self, *args):
        return self._run(args, None).result()


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
        return self.fn(*args, **kwargs)
