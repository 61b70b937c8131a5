"""Loads a generated DAG file the way Airflow's DagBag does, against the stubs next to this file.

    python3 load_dag.py DAG.py [--airflow 2|3]

Prints JSON: every DAG with its kwargs, tasks (operator, kwargs, mapped fields with the command
of a sample key) and exact edges, plus each templated field as Airflow's Jinja would render it
(when jinja2 is installed). Fails when importing the file does I/O (files, sockets, processes).
"""

import datetime
import json
import os
import shlex
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE_EXT = (".sh", ".bash", ".json", ".yaml", ".yml", ".sql", ".hql", ".j2", ".jinja2")


def main():
    path = sys.argv[1]
    if "--airflow" in sys.argv:
        os.environ["DAGWRIGHT_AIRFLOW_STUB_VERSION"] = sys.argv[sys.argv.index("--airflow") + 1]
    sys.dont_write_bytecode = True
    sys.path.insert(0, HERE)
    from airflow import _stub
    import airflow.sdk  # noqa: F401
    import airflow.operators.bash  # noqa: F401
    import airflow.providers.cncf.kubernetes.operators.pod  # noqa: F401
    import airflow.providers.cncf.kubernetes.secret  # noqa: F401
    try:
        import jinja2
    except ImportError:
        jinja2 = None
    with open(path, encoding="utf-8") as f:
        source = f.read()
    code = compile(source, path, "exec")
    io = []
    sys.addaudithook(lambda event, args: io.append(event) if event in (
        "open", "socket.connect", "socket.getaddrinfo", "subprocess.Popen", "os.system",
        "urllib.Request") else None)
    exec(code, {"__name__": "dagwright_dag", "__file__": path})
    if io:
        raise SystemExit(f"importing {path} did I/O: {sorted(set(io))}")
    import ast
    tree = ast.parse(source)
    statements = [type(n).__name__ for n in tree.body]
    with_body = [type(n).__name__ for w in tree.body if isinstance(w, ast.With) for n in w.body]
    print(json.dumps({"jinja": jinja2 is not None, "statements": statements, "with_body": with_body,
                      "dags": [dump_dag(d, jinja2) for d in _stub.DAGS]}, indent=1, sort_keys=True))


def plain(v):
    if isinstance(v, datetime.timedelta):
        return {"timedelta": v.total_seconds()}
    if isinstance(v, datetime.datetime):
        return {"datetime": v.isoformat()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if callable(v):
        return {"callable": getattr(v, "__name__", repr(v))}
    if hasattr(v, "to_dict"):
        return {type(v).__name__: plain(v.to_dict())}
    if hasattr(v, "deploy_type"):
        return {"Secret": [v.deploy_type, v.deploy_target, v.secret, v.key]}
    return v


def render(value, env, ext_errors):
    """What Airflow's render_template does to a templated field's value."""
    if isinstance(value, str):
        if value.endswith(TEMPLATE_EXT):
            ext_errors.append(value)
        return env.from_string(value).render(run_id="RUN_ID") if env else value
    if isinstance(value, list):
        return [render(x, env, ext_errors) for x in value]
    if isinstance(value, dict):
        return {k: render(x, env, ext_errors) for k, x in value.items()}
    return value


def dump_dag(dag, jinja2):
    env = jinja2.Environment() if jinja2 else None
    tasks = {}
    for task_id, t in dag.tasks.items():
        cls = getattr(t, "cls", type(t))
        entry = {"operator": cls.__name__, "mapped": t.expand_kwargs is not None,
                 "kwargs": plain(t.kwargs)}
        ext_errors = []
        fields = {f: t.kwargs[f] for f in cls.template_fields if f in t.kwargs}
        if t.expand_kwargs:
            entry["expand"] = {}
            for field, arg in t.expand_kwargs.items():
                sample = arg.fn("S0") if arg.fn else None
                entry["expand"][field] = {"from": arg.task.task_id, "sample": sample}
                fields[field] = sample
        entry["rendered"] = render(fields, env, ext_errors)
        if isinstance(entry["rendered"].get("bash_command"), str):
            entry["argv"] = shlex.split(entry["rendered"]["bash_command"])
        entry["template_file_errors"] = ext_errors
        tasks[task_id] = entry
    return {"dag_id": dag.dag_id, "kwargs": plain(dag.kwargs), "tasks": tasks,
            "edges": sorted([a, b] for a, b in dag.edges)}


if __name__ == "__main__":
    main()
