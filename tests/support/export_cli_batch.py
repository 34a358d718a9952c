"""Runs `tb-actviz export` cases one after the other in one process, each as
the console script runs it: `tb_actviz.export.main(["export", ...])`, its
stdout and stderr captured, its exit status the one the console script would
exit with (SystemExit's code; 1, with the traceback on stderr, for any other
exception). One process pays TensorBoard's import of TensorFlow once, not
once per case (tests/integration/test_export_hostile.py).

Usage: python export_cli_batch.py < cases.json
  cases.json: a JSON list of argument lists (what follows `tb-actviz export`).
  Prints one JSON line last: a list of [status, stdout, stderr], one per case.
"""

import contextlib
import io
import json
import sys
import traceback


def run(args):
    from tb_actviz.export import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(["export", *args])
            status = 0 if status is None else status
        except SystemExit as e:
            if e.code is None or isinstance(e.code, int):
                status = e.code or 0
            else:  # sys.exit("message"): the interpreter prints it and exits 1
                print(e.code, file=sys.stderr)
                status = 1
        except BaseException:  # noqa: BLE001 - what the console script would die of
            traceback.print_exc()
            status = 1
    return [status, out.getvalue(), err.getvalue()]


if __name__ == "__main__":
    cases = json.load(sys.stdin)
    results = [run(args) for args in cases]
    print("\n" + json.dumps(results))
