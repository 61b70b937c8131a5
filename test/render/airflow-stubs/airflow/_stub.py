"""Stand-ins for the parts of Airflow a dagwright DAG file uses, strict about keyword arguments.

The parameter lists are those of the real constructors (Airflow 2.10 / 3.x task SDK
BaseOperator, standard BashOperator, cncf.kubernetes KubernetesPodOperator); an unknown keyword
raises like Airflow's "Invalid arguments were passed". Every DAG, task and edge is recorded in
DAGS for the loader to dump.
"""

import datetime
import os
import re

VERSION = int(os.environ.get("DAGWRIGHT_AIRFLOW_STUB_VERSION", "3"))
DAGS = []
_CURRENT = []
TASK_ID = re.compile(r"^[\w.-]+$")

BASE_OPERATOR = {
    "task_id", "owner", "email", "email_on_retry", "email_on_failure", "retries", "retry_delay",
    "retry_exponential_backoff", "max_retry_delay", "start_date", "end_date", "depends_on_past",
    "ignore_first_depends_on_past", "wait_for_past_depends_before_skipping", "wait_for_downstream",
    "dag", "params", "default_args", "priority_weight", "weight_rule", "queue", "pool", "pool_slots",
    "sla", "execution_timeout", "on_execute_callback", "on_failure_callback", "on_success_callback",
    "on_retry_callback", "on_skipped_callback", "pre_execute", "post_execute", "trigger_rule",
    "resources", "run_as_user", "map_index_template", "max_active_tis_per_dag",
    "max_active_tis_per_dagrun", "executor", "executor_config", "do_xcom_push", "multiple_outputs",
    "inlets", "outlets", "task_group", "doc", "doc_md", "doc_json", "doc_yaml", "doc_rst",
    "logger_name", "allow_nested_operators",
}
DAG_KWARGS = {
    "dag_id", "description", "schedule", "start_date", "end_date", "default_args",
    "max_active_tasks", "max_active_runs", "max_consecutive_failed_dag_runs", "dagrun_timeout",
    "catchup", "on_success_callback", "on_failure_callback", "doc_md", "params", "access_control",
    "is_paused_upon_creation", "jinja_environment_kwargs", "render_template_as_native_obj", "tags",
    "owner_links", "auto_register", "fail_fast", "dag_display_name", "template_searchpath",
    "template_undefined", "user_defined_macros", "user_defined_filters",
}
DAG_KWARGS_2 = DAG_KWARGS | {"schedule_interval", "timetable", "concurrency", "default_view",
                             "orientation", "sla_miss_callback"}


def _check(kind, allowed, kwargs):
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise TypeError(f"Invalid arguments were passed to {kind}. Invalid arguments were: {unknown}")


class DAG:
    def __init__(self, dag_id=None, **kwargs):
        _check("DAG", DAG_KWARGS if VERSION >= 3 else DAG_KWARGS_2, kwargs)
        if not isinstance(dag_id, str) or not TASK_ID.match(dag_id) or len(dag_id) > 250:
            raise ValueError(f"invalid dag_id {dag_id!r}")
        for key in ("dagrun_timeout",):
            if key in kwargs and not isinstance(kwargs[key], datetime.timedelta):
                raise TypeError(f"{key} must be a timedelta")
        self.dag_id = dag_id
        self.kwargs = kwargs
        self.tasks = {}
        self.edges = set()
        DAGS.append(self)

    def __enter__(self):
        _CURRENT.append(self)
        return self

    def __exit__(self, *exc):
        _CURRENT.pop()
        return False


def _register(task):
    if not _CURRENT:
        raise RuntimeError(f"task {task.task_id!r} is outside any DAG")
    dag = _CURRENT[-1]
    if task.task_id in dag.tasks:
        raise ValueError(f"DuplicateTaskIdFound: {task.task_id!r}")
    dag.tasks[task.task_id] = task
    task.dag = dag


def _check_task_kwargs(kind, allowed, kwargs):
    _check(kind, BASE_OPERATOR | allowed, kwargs)
    task_id = kwargs.get("task_id")
    if not isinstance(task_id, str) or not TASK_ID.match(task_id) or len(task_id) > 250:
        raise ValueError(f"invalid task_id {task_id!r}")
    if "retries" in kwargs and not isinstance(kwargs["retries"], int):
        raise TypeError("retries must be an int")
    if "execution_timeout" in kwargs and not isinstance(kwargs["execution_timeout"], datetime.timedelta):
        raise TypeError("execution_timeout must be a timedelta")


class XComArg:
    def __init__(self, task, fn=None):
        self.task = task
        self.fn = fn

    def map(self, fn):
        if not callable(fn):
            raise TypeError("map() needs a callable")
        return XComArg(self.task, fn)


class _Node:
    template_fields = ()

    def _link(self, other):
        for o in other if isinstance(other, list) else [other]:
            self.dag.edges.add((self.task_id, o.task_id))
        return other

    def __rshift__(self, other):
        return self._link(other)

    @property
    def output(self):
        return XComArg(self)


class BaseOperator(_Node):
    ALLOWED = set()
    REQUIRED = ()

    def __init__(self, *args, **kwargs):
        if args:
            raise TypeError("Use keyword arguments when initializing operators")
        _check_task_kwargs(type(self).__name__, self.ALLOWED, kwargs)
        for r in self.REQUIRED:
            if r not in kwargs:
                raise TypeError(f"{type(self).__name__} needs {r}")
        self.task_id = kwargs["task_id"]
        self.kwargs = kwargs
        self.expand_kwargs = None
        _register(self)

    @classmethod
    def partial(cls, **kwargs):
        _check_task_kwargs(cls.__name__, cls.ALLOWED, kwargs)
        return _Partial(cls, kwargs)


class _Partial:
    def __init__(self, cls, kwargs):
        self.cls = cls
        self.kwargs = kwargs

    def expand(self, **mapped):
        both = set(mapped) & set(self.kwargs)
        if both:
            raise TypeError(f"expand() got arguments also given to partial(): {sorted(both)}")
        _check(self.cls.__name__, self.cls.ALLOWED, mapped)
        return MappedOperator(self.cls, self.kwargs, mapped)


class MappedOperator(_Node):
    def __init__(self, cls, kwargs, mapped):
        self.cls = cls
        self.task_id = kwargs["task_id"]
        self.kwargs = kwargs
        self.expand_kwargs = mapped
        _register(self)
        for value in mapped.values():
            if isinstance(value, XComArg):
                self.dag.edges.add((value.task.task_id, self.task_id))
