"""dagwright's process launcher (started by src/tasks/spawn-helper.ts; not a public API).

Usage: python3 -I -S dagwright_spawn.py

Starting a process from Node costs ~2 ms of the main thread each (libuv fork()s the whole Node
process); os.posix_spawn from this small process uses vfork and costs a fraction of that. One
long-lived launcher serves every script and shell task of a dagwright process. Single-threaded;
uses only the standard library (Python >= 3.8).

Protocol: one request per line (JSON) on stdin, one reply per line (space-separated words) on
stdout, written before the launcher waits again.

  out: R 1                                              once, before any request is read
  in:  {"id": N, "cmd": str, "args": [str...], "cwd": abs, "env": {str: str}, "log": abs}
  out: S id pid                                         started
       F id ERRNO step message                          not started; step: cwd | exec | log
       E id exitcode signal maxrss_kb cpu_ms            ended (exitcode "-" when signalled,
                                                        signal "-" when it exited, maxrss_kb
                                                        "-" when unknown, see _reap)

Each process runs `cmd args` without a shell (PATH looked up in the request's env, as Node's
spawn does; a file without #! runs through /bin/sh like execvp) in `cwd`, as the leader of a new
session and process group, with stdin from /dev/null and stdout and stderr appended to `log`
(which the caller created and wrote its header to), default signal dispositions and an empty
signal mask (glibc's posix_spawn leaves its two internal signals, 32 and 33, ignored). Exits are
reaped with wait4 when SIGCHLD wakes the loop, so maxrss and CPU time come from the kernel's
rusage (the process and the children it waited for). The launcher ignores the
terminal's and a supervisor's signals (Node decides about cancelling) and exits when stdin ends,
never killing a child: Node owns their process groups.
"""

import errno
import json
import os
import selectors
import signal
import stat
import sys

PROTOCOL = b"1"

# Signals whose disposition this process may have changed (Python ignores SIGPIPE and SIGXFSZ,
# the launcher SIGINT, SIGTERM, SIGHUP and SIGQUIT, and handles SIGCHLD): reset in every child.
_SIGDEF = tuple(s for s in signal.Signals if s not in (signal.SIGKILL, signal.SIGSTOP))
_STDIN = os.O_RDONLY
_LOG = os.O_WRONLY | os.O_APPEND | os.O_CREAT

# Whether POSIX_SPAWN_SETSID works here (glibc >= 2.26); else only a new process group.
_use_setsid = True


def _b(text):
    """UTF-8 bytes of a string from JSON (lone surrogates become U+FFFD, as in Node)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")


def _spawn_once(path, argv, env, log):
    global _use_setsid
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, b"/dev/null", _STDIN, 0),
        (os.POSIX_SPAWN_OPEN, 1, log, _LOG, 0o666),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    if _use_setsid:
        try:
            return os.posix_spawn(
                path, argv, env, file_actions=actions, setsid=True, setsigdef=_SIGDEF, setsigmask=()
            )
        except NotImplementedError:
            _use_setsid = False
    return os.posix_spawn(
        path, argv, env, file_actions=actions, setpgroup=0, setsigdef=_SIGDEF, setsigmask=()
    )


def _spawn_file(path, argv, env, log):
    try:
        return _spawn_once(path, argv, env, log)
    except OSError as e:
        if e.errno != errno.ENOEXEC:
            raise
    # No #! line: like execvp (and so Node's spawn), run it with the shell.
    return _spawn_once(b"/bin/sh", [b"/bin/sh", path, *argv[1:]], env, log)


def _spawn(cmd, argv, env, log):
    """posix_spawnp, except that PATH comes from the child's env (as in execvp after environ=env)."""
    if b"/" in cmd:
        return _spawn_file(cmd, argv, env, log)
    if not cmd:
        raise OSError(errno.ENOENT, os.strerror(errno.ENOENT))
    search = env.get(b"PATH")
    if search is None:
        search = os.defpath.encode()
    denied = False
    for folder in search.split(b":"):
        path = (folder or b".") + b"/" + cmd
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue
        if not stat.S_ISREG(mode):
            denied = True
            continue
        try:
            return _spawn_file(path, argv, env, log)
        except OSError as e:
            if e.errno == errno.EACCES:
                denied = True
            elif e.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ESTALE):
                raise
    code = errno.EACCES if denied else errno.ENOENT
    raise OSError(code, os.strerror(code))


def _line(text):
    return " ".join(str(text).split())


def _failure(rid, err, step):
    code = errno.errorcode.get(err.errno, "EIO") if isinstance(err, OSError) else "EINVAL"
    message = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    return b"F %d %s %s %s\n" % (rid, code.encode(), step.encode(), _b(_line(message) or code))


def _start(request, running):
    rid = request["id"]
    try:
        cmd = _b(request["cmd"])
        argv = [cmd, *(_b(a) for a in request["args"])]
        env = {_b(k): _b(v) for k, v in request["env"].items()}
        log = _b(request["log"])
    except (KeyError, TypeError, AttributeError) as e:
        return _failure(rid, ValueError("bad request: %r" % (e,)), "exec")
    try:
        os.chdir(request["cwd"])
    except (OSError, ValueError, TypeError) as e:
        return _failure(rid, e, "cwd")
    try:
        pid = _spawn(cmd, argv, env, log)
    except (OSError, ValueError) as e:
        # The log is opened in the child: tell a log that cannot be written from a missing program.
        step = "exec"
        if isinstance(e, OSError) and not os.access(log, os.W_OK):
            step = "log"
        return _failure(rid, e, step)
    running[pid] = rid
    return b"S %d %d\n" % (rid, pid)


def _own_peak_kb():
    """This process's own high-water RSS (VmHWM), 0 where /proc is missing."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


# The launcher's own peak RSS as last read; it only grows.
_floor_kb = 0


def _reap(running, out):
    """
    Reports every child that ended. A child's ru_maxrss is at least the launcher's own peak RSS:
    at exec the kernel records the old address space's high-water mark, which after vfork is
    this process's (fs/exec.c, exec_mmap). So maxrss is reported only above that floor, where it
    is the child's own (or a child's it waited for); at or below it, "-" (Node samples /proc).
    """
    global _floor_kb
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        rid = running.pop(pid, None)
        if rid is None:
            continue
        if os.WIFSIGNALED(status):
            code = b"-"
            num = os.WTERMSIG(status)
            try:
                sig = signal.Signals(num).name.encode()
            except ValueError:
                sig = b"%d" % num
        else:
            code = b"%d" % os.WEXITSTATUS(status)
            sig = b"-"
        if usage.ru_maxrss > _floor_kb:
            _floor_kb = max(_floor_kb, _own_peak_kb())
        rss = b"%d" % usage.ru_maxrss if usage.ru_maxrss > _floor_kb else b"-"
        cpu_ms = round((usage.ru_utime + usage.ru_stime) * 1000)
        out.append(b"E %d %s %s %s %d\n" % (rid, code, sig, rss, cpu_ms))


def _write(data):
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


def main():
    if not hasattr(os, "posix_spawn") or not hasattr(os, "wait4"):
        sys.stderr.write("os.posix_spawn needs Python 3.8 or later on a POSIX system\n")
        return 3
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda _sig, _frame: None)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ, "in")
    selector.register(wake_r, selectors.EVENT_READ, "child")
    running = {}
    pending = b""
    _write(b"R " + PROTOCOL + b"\n")
    while True:
        out = []
        ended = False
        for key, _ in selector.select():
            if key.data == "child":
                try:
                    while os.read(wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
                continue
            data = os.read(0, 1 << 16)
            if not data:
                ended = True
                continue
            lines = (pending + data).split(b"\n")
            pending = lines.pop()
            for line in lines:
                if not line.strip():
                    continue
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict) or type(request.get("id")) is not int:
                        raise ValueError("no integer id")
                except ValueError as e:
                    sys.stderr.write("dagwright_spawn: bad request line: %s\n" % (e,))
                    continue
                out.append(_start(request, running))
        _reap(running, out)
        if out:
            _write(b"".join(out))
        if ended:
            return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        # Node went away while a reply was being written.
        os._exit(0)
