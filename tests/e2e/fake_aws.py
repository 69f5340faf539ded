"""The fake AWS of the browser tests: the demo's moto server in a process of its own, so the
scan the tests start from the page (in ``manage.py db_worker``) reaches the estate that was
seeded before the app started.

  python -m tests.e2e.fake_aws     # prints the endpoint URL, serves until SIGTERM
"""

from __future__ import annotations

import signal
import sys
import threading

from compliance.demo.fake_aws import moto_server


def main() -> None:
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with moto_server() as endpoint:
        sys.stdout.write(endpoint + "\n")
        sys.stdout.flush()
        while not stopped.wait(0.5):
            pass


if __name__ == "__main__":
    main()
