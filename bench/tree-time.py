"""Wall and CPU time of a command and of every process it starts (bench/run-bench.mjs).

Usage: python3 tree-time.py CMD [ARGS...]

Prints one last line on stderr: `TREE-TIME wall_ms cpu_ms exit_code`. wall_ms runs from the start
of CMD to its exit. cpu_ms is user + system time of CMD and of all its descendants, including the
ones it never waited for: GNU time counts only the children a process reaped, and dagwright's
process launcher (runtime/dagwright_spawn.py), which reaps every task process, is left to exit on
its own after dagwright does, so its CPU time and its tasks' would be missed. This process becomes
the child subreaper (prctl PR_SET_CHILD_SUBREAPER, Linux), so those orphans are reparented to it,
and it reaps them all before it reads its children's rusage.
"""

import ctypes
import os
import resource
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
# A descendant still running this long after CMD exited is reported rather than waited for.
ORPHAN_WAIT_S = 30


def main():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("tree-time: prctl(PR_SET_CHILD_SUBREAPER) failed: %s" % os.strerror(ctypes.get_errno()))
    t0 = time.monotonic()
    child = subprocess.Popen(sys.argv[1:])
    code = child.wait()
    wall_ms = (time.monotonic() - t0) * 1000
    signal.alarm(ORPHAN_WAIT_S)
    try:
        while True:
            os.wait()
    except ChildProcessError:
        pass
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_ms = (usage.ru_utime + usage.ru_stime) * 1000
    sys.stderr.write("TREE-TIME %.1f %.1f %d\n" % (wall_ms, cpu_ms, code))
    sys.exit(code)


main()
