"""``[core] hostname_callable`` of the test workers: each one names its own "machine".

Both Celery workers run on this one host; the task instances they run record
``APISYNC_CLUSTER_HOSTNAME`` (worker-a, worker-b) as their hostname, as two machines would.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("APISYNC_CLUSTER_HOSTNAME") or socket.getfqdn()
