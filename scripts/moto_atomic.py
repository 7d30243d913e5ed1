"""moto server with DynamoDB's atomicity: one DynamoDB request at a time.

Real DynamoDB applies a conditional write or a transaction atomically; moto's threaded server
checks the condition and then writes without a lock, so two racing writers can both "win" (seen
as a rate limiter granting more tokens than it holds when two senders race). Our adapters rely on
that atomicity for every claim, bucket and idempotency key, so the emulator must give it too.
DynamoDB requests are serialised behind one lock; everything else (SQS long polls above all)
stays concurrent.

Usage: python moto_atomic.py HOST PORT
"""

import os
import sys
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


class DynamoDbInOrder:
    """WSGI middleware: DynamoDB calls (JSON protocol, `X-Amz-Target: DynamoDB_...`) run one by one."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with self.lock:
                # The body is produced inside the lock too: moto may build it lazily.
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    # moto builds some URLs (queue URLs among them) from this, as its own launcher sets it.
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        host,
        port,
        DynamoDbInOrder(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
