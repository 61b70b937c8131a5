"""Imports a generated flow file against the Prefect stubs here and runs its flow.

    python3 run_flow.py FLOW.py [--no-run]

Prints JSON: the flow's name and its runs (task, args, the runs it waited for, error). Fails when
importing the file does I/O, or when the flow raises (after printing the runs).
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    sys.dont_write_bytecode = True
    sys.path.insert(0, HERE)
    import prefect
    import prefect.blocks.system
    import prefect.deployments
    import prefect.runtime.flow_run  # noqa: F401
    # The flow file imports these; preloaded so only the file itself is audited.
    import concurrent.futures  # noqa: F401
    import contextvars  # noqa: F401
    import subprocess  # noqa: F401
    import threading  # noqa: F401

    path = sys.argv[1]
    with open(path, encoding="utf-8") as f:
        code = compile(f.read(), path, "exec")
    io = []
    hook = {"on": True}
    sys.addaudithook(lambda event, args: io.append(event) if hook["on"] and event in (
        "open", "socket.connect", "subprocess.Popen", "os.system") else None)
    module = {"__name__": "dagwright_flow", "__file__": path}
    exec(code, module)
    hook["on"] = False
    if io:
        raise SystemExit(f"importing {path} did I/O: {sorted(set(io))}")
    flows = [v for k, v in module.items() if isinstance(v, prefect._Flow) and k == "dagwright_flow"]
    error = None
    if "--no-run" not in sys.argv:
        try:
            flows[0]()
        except Exception as e:  # noqa: BLE001
            error = str(e)
    print(json.dumps({
        "flows": [f.name for f in flows],
        "runs": prefect.RUNS,
        "deployment_runs": prefect.deployments.DEPLOYMENT_RUNS,
        "secret_loads": prefect.blocks.system.LOADS,
        "error": error,
    }))
    if error:
        sys.exit(1)


if __name__ == "__main__":
    main()
