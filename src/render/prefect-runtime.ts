import { pyStr } from "./python-literal.js";

/*
 * The Python helpers a generated Prefect flow file defines before its tasks: running dagwright,
 * running a unit through the work pool's run-task deployment, and scheduling fan-outs so that
 * none blocks the flow. Generated text only: no user string appears here except through pyStr.
 */

/**
 * The runtime helper every task body calls: no shell, the log tail in the error. With
 * `stateSecret` (a Prefect Secret block name), each run sets `DAGWRIGHT_STATE_URL` from that
 * block, loaded where the unit runs, so the URL is in no file and no flow-run parameter.
 */
export function runHelper(stateSecret: string | undefined): string[] {
  const secret = stateSecret !== undefined;
  return [
    ...(secret ? [`STATE_SECRET = ${pyStr(stateSecret)}`, "", ""] : []),
    "def _dagwright(args, env):",
    '    """Runs `dagwright ARGS` (no shell); raises with the last lines of its output on failure."""',
    "    full = dict(os.environ)",
    "    full.update(env)",
    '    full.setdefault("DAGWRIGHT_RUN_ID", _run_id())',
    ...(secret ? ['    full["DAGWRIGHT_STATE_URL"] = _state_url()'] : []),
    '    done = subprocess.run(["dagwright", *args], env=full, capture_output=True, text=True)',
    "    if done.returncode != 0:",
    '        tail = "\\n".join((done.stdout + done.stderr).splitlines()[-20:])',
    '        raise RuntimeError("dagwright %s exited with %d:\\n%s" % (" ".join(args), done.returncode, tail))',
    "    return done.stdout",
    "",
    "",
    "def _run_id():",
    "    try:",
    "        from prefect.runtime import flow_run",
    "    except ImportError:  # Prefect < 2.10",
    '        return "prefect"',
    '    return "prefect-" + str(flow_run.id)',
    "",
    "",
    ...(secret
      ? [
          "def _state_url():",
          '    """The state store URL: the value of the Secret block STATE_SECRET, read where the unit runs."""',
          "    from prefect.blocks.system import Secret",
          "",
          "    return Secret.load(STATE_SECRET).get()",
          "",
          "",
        ]
      : []),
  ];
}

/** Work pools: each unit is a run of the `run-task` deployment, in a container of its own. */
export function remoteHelper(deployment: string): string[] {
  return [
    `RUN_TASK_DEPLOYMENT = ${pyStr(`dagwright-run-task/${deployment}`)}`,
    "",
    "",
    '@flow(name="dagwright-run-task")',
    "def dagwright_run_task(args: list, env: dict):",
    '    """One dagwright unit in its own container (the `run-task` deployment of prefect.yaml)."""',
    "    _dagwright(args, env)",
    "",
    "",
    "def _remote(args, env, job_variables, name):",
    '    """Runs a unit through the run-task deployment, sized by `job_variables`; raises unless it completed."""',
    "    from prefect.deployments import run_deployment",
    "",
    "    env = dict(env)",
    '    env.setdefault("DAGWRIGHT_RUN_ID", _run_id())',
    "    run = run_deployment(",
    "        name=RUN_TASK_DEPLOYMENT,",
    '        parameters={"args": args, "env": env},',
    "        job_variables=job_variables,",
    "        flow_run_name=name,",
    "    )",
    "    if not run.state.is_completed():",
    '        raise RuntimeError("%s: the run-task flow run ended %s" % (name, run.state.name))',
    "",
    "",
  ];
}

/**
 * Scheduling helpers. A unit's handle is a list of task-run futures (what its dependents wait
 * for), or, for a fan-out and every unit after one, a `concurrent.futures.Future` of that list:
 * a fan-out lists its keys and maps its items on a thread of its own, and its dependents are
 * submitted on threads that wait for the list, so no unit waits for a fan-out it does not
 * depend on. Threads run in a copy of the flow run's context, where Prefect finds its task runner.
 */
export const SCHEDULE_HELPERS = [
  "def _thread(fn, *args):",
  '    """Runs fn(*args) on a thread of its own, in the flow run\'s context; returns a future of its value."""',
  "    context = contextvars.copy_context()",
  "    out = concurrent.futures.Future()",
  "",
  "    def run():",
  "        try:",
  "            out.set_result(context.run(fn, *args))",
  "        except BaseException as e:  # noqa: BLE001 - re-raised by whoever waits for it",
  "            out.set_exception(e)",
  "",
  "    threading.Thread(target=run, daemon=True).start()",
  "    return out",
  "",
  "",
  "def _waits(units):",
  '    """The task runs that `units` are: each a list of futures, or a future of one (a fan-out once listed)."""',
  "    runs = []",
  "    for unit in units:",
  "        runs += unit.result() if isinstance(unit, concurrent.futures.Future) else unit",
  "    return runs",
  "",
  "",
  "def _after(units, task):",
  '    """Submits `task` once `units` have runs to wait for (on a thread after a fan-out)."""',
  "    return [task.submit(wait_for=_waits(units))]",
  "",
  "",
  "def _fan_out(units, listing, mapped, size):",
  '    """Lists the keys after `units`, then maps `mapped` over them, at most `size` runs at once',
  '    (None: no limit; the next starts as one ends). Returns the item runs."""',
  "    listed = listing.submit(wait_for=_waits(units))",
  "    keys = listed.result()",
  "    if size is None:",
  "        return list(mapped.map(keys, wait_for=[listed]))",
  "    slots = threading.Semaphore(size)",
  "    runs = []",
  "    for key in keys:",
  "        slots.acquire()",
  "        run = mapped.submit(key, wait_for=[listed])",
  "        runs.append(run)",
  "        _thread(_release, run, slots)",
  "    return runs",
  "",
  "",
  "def _release(run, slots):",
  "    run.wait()",
  "    slots.release()",
  "",
  "",
  "def _finish(units):",
  '    """Waits for every unit, dependencies first, then raises the first failure: a failed unit',
  '    does not end the flow run while the branches that do not depend on it still run."""',
  "    failure = None",
  "    for unit in units:",
  "        try:",
  "            for run in _waits([unit]):",
  "                try:",
  "                    run.result()",
  "                except Exception as e:  # noqa: BLE001 - raised once every unit has ended",
  "                    failure = failure or e",
  "        except Exception as e:  # noqa: BLE001 - a fan-out whose listing failed",
  "            failure = failure or e",
  "    if failure is not None:",
  "        raise failure",
  "",
  "",
];
