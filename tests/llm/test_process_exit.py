"""Start-up and exit of processes that hold litellm (judge.llm.litellm_env, the forkserver).

litellm's import builds ~10^5 objects, and tearing such a process down takes ~0.8 s, so
the ``judge`` command ends without the teardown (``exit_now``) and the processes executor's
forkserver exits at once when its driver goes. These tests check that nothing is lost on
the way: exit codes, atexit handlers, stdout and stderr; and that the warm-up makes no
network call and leaves no thread behind. Each runs in a fresh interpreter.
"""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from judge.llm.litellm_env import gc_paused

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, *args: str, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", **(env or {})})


def test_gc_paused_restores_the_collector_state():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # a caller's disabled collector stays disabled
    finally:
        gc.enable()


def test_warm_up_makes_no_call_and_leaves_no_thread():
    with socket.socket() as listener:  # where an openai/ call would go, were one made
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(0)
        port = listener.getsockname()[1]
        out = _python("""
            import sys, threading
            from judge.llm.litellm_env import get_litellm, warm_up
            get_litellm()
            before = len(sys.modules)
            warm_up()
            print(threading.active_count(), len(sys.modules) - before)
        """, env={"OPENAI_API_BASE": f"http://127.0.0.1:{port}/v1",
                  "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1"})
        assert out.returncode == 0, out.stderr
        threads, new_modules = map(int, out.stdout.split())
        assert threads == 1  # safe to fork from
        assert new_modules > 0  # what litellm loads lazily on a first call is loaded now
        try:
            listener.accept()
            connected = True
        except BlockingIOError:
            connected = False
        assert not connected


CLI = """
    import atexit, os, sys
    from judge.llm.litellm_env import get_litellm
    get_litellm()  # as after a stage that called a model
    marker = sys.argv[1]
    atexit.register(lambda: open(marker, "a").write("atexit;"))
    real_exit = os._exit
    def spy(code):
        open(marker, "a").write(f"os._exit({code});")
        real_exit(code)
    os._exit = spy
    sys.argv = ["judge", *sys.argv[2:]]
    from judge.cli import main
    main()
"""


def test_cli_skips_teardown_but_keeps_exit_code_atexit_and_output(tmp_path):
    ok = _python(CLI, str(tmp_path / "ok"), "--help")
    assert ok.returncode == 0 and "Usage" in ok.stdout and "serve-sim" in ok.stdout
    assert (tmp_path / "ok").read_text() == "atexit;os._exit(0);"
    bad = _python(CLI, str(tmp_path / "bad"), "run", str(tmp_path / "missing.yaml"))
    assert bad.returncode == 2 and "error:" in bad.stderr and "missing.yaml" in bad.stderr
    assert (tmp_path / "bad").read_text() == "atexit;os._exit(2);"


def test_cli_exits_normally_without_litellm_or_with_a_running_thread(tmp_path):
    out = _python(CLI.replace("get_litellm()  #", "#"), str(tmp_path / "m"), "--help")
    assert out.returncode == 0 and "Usage" in out.stdout
    assert (tmp_path / "m").read_text() == "atexit;"  # the ordinary exit: nothing to save
    # A non-daemon thread still working when the command returns: the ordinary exit waits
    # for it. No sleep decides the order: the thread is blocked on an event that only the
    # interpreter's own shutdown sets (threading._register_atexit runs at the start of
    # threading._shutdown, before it joins non-daemon threads). So the thread is surely
    # running when main() decides how to exit; a fast exit would leave "os._exit(0);" and
    # no "thread;" (the thread would never be released).
    busy = CLI.replace("get_litellm()  #", """get_litellm()
    import threading
    release = threading.Event()
    threading._register_atexit(release.set)
    def work(path=sys.argv[1]):
        release.wait(60)
        open(path, "a").write("thread;")
    threading.Thread(target=work).start()
    #""")
    out = _python(busy, str(tmp_path / "t"), "--help")
    assert out.returncode == 0 and "Usage" in out.stdout, out.stderr
    assert (tmp_path / "t").read_text() == "thread;atexit;"


def test_only_the_forkserver_exits_at_once(tmp_path):
    script = tmp_path / "driver.py"  # the forkserver imports the target from the main file
    script.write_text(textwrap.dedent("""
        import multiprocessing as mp, os
        def child(q):
            import judge.executors._preload as p
            q.put((p.FAST_EXIT, os.getppid()))
        if __name__ == "__main__":
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(["judge.executors._preload"])
            q = ctx.Queue()
            p = ctx.Process(target=child, args=(q,))
            p.start()
            fast, forkserver = q.get(timeout=60)
            p.join()
            import judge.executors._preload as here
            print(fast, here.FAST_EXIT, forkserver)
    """))
    out = _python(f"import runpy; runpy.run_path({str(script)!r}, run_name='__main__')")
    assert out.returncode == 0, out.stderr
    fast_in_forkserver, fast_here, forkserver_pid = out.stdout.split()
    assert (fast_in_forkserver, fast_here) == ("True", "False")
    # With its driver gone, the forkserver ends (it does not linger or hang).
    for _ in range(200):
        try:
            os.kill(int(forkserver_pid), 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"forkserver {forkserver_pid} still running")
