"""A stand-in for `prefect.deployments.run_deployment`: runs the deployment's flow (found by the
flow name before the slash) at once, in this process, as a worker would in a container, and
records each call (name, parameters, job variables) in DEPLOYMENT_RUNS."""

import inspect

import prefect

DEPLOYMENT_RUNS = []
RUN_DEPLOYMENT_KWARGS = {
    "name", "client", "parameters", "scheduled_time", "flow_run_name", "timeout", "poll_interval",
    "tags", "idempotency_key", "work_queue_name", "as_subflow", "job_variables",
}


class _State:
    def __init__(self, ok):
        self.name = "Completed" if ok else "Failed"
        self._ok = ok

    def is_completed(self):
        return self._ok


class _FlowRun:
    def __init__(self, ok):
        self.state = _State(ok)


def run_deployment(**kwargs):
    unknown = sorted(set(kwargs) - RUN_DEPLOYMENT_KWARGS)
    if unknown:
        raise TypeError(f"run_deployment() got unexpected keyword arguments {unknown}")
    flow_name, _, deployment = kwargs["name"].partition("/")
    flow = prefect.FLOWS[flow_name]
    parameters = kwargs.get("parameters") or {}
    inspect.signature(flow.fn).bind(**parameters)
    record = {
        "deployment": deployment,
        "flow_run_name": kwargs.get("flow_run_name"),
        "parameters": parameters,
        "job_variables": kwargs.get("job_variables"),
    }
    DEPLOYMENT_RUNS.append(record)
    try:
        flow(**parameters)
        return _FlowRun(True)
    except Exception as e:  # noqa: BLE001 - a failed flow run is a state, as in Prefect
        record["error"] = str(e)
        return _FlowRun(False)
