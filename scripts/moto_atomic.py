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

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import TooManyTransactionsException, TransactionCanceledException
from moto.dynamodb.models import DynamoDBBackend
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


def transact_write_items(self, transact_items):
    """DynamoDB's TransactWriteItems without copying tables.

    moto backs up every table a transaction touches with a deep copy, so each transaction costs
    time in proportion to the table: thousands of inbound messages (one transaction each) take
    minutes. DynamoDB requests are serialised here already, so checking every condition first and
    writing only when all hold is just as all-or-nothing, and costs what the items cost.
    """
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    ops = []
    reasons = []
    for entry in transact_items:
        kind, op = next(iter(entry.items()))
        name = op["TableName"]
        table = self.get_table(name)
        if kind == "Put":
            key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = op["Item"][table.range_key_attr]
        else:
            key = op["Key"]
        current = self.get_item(name, key)
        condition = op.get("ConditionExpression")
        names = op.get("ExpressionAttributeNames")
        values = op.get("ExpressionAttributeValues")
        if condition is not None and not get_filter_expression(condition, names, values).expr(current):
            old = None
            if current and op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD":
                old = current.to_json()["Attributes"]
            reasons.append(("ConditionalCheckFailed", "The conditional request failed", old))
        else:
            reasons.append((None, None, None))
        ops.append((kind, name, key, op, names, values))
    if any(code is not None for code, _, _ in reasons):
        raise TransactionCanceledException(reasons)
    for kind, name, key, op, names, values in ops:
        if kind == "Put":
            self.put_item(name, op["Item"])
        elif kind == "Delete":
            self.delete_item(name, key)
        elif kind == "Update":
            self.update_item(
                name,
                key,
                update_expression=op["UpdateExpression"],
                expression_attribute_names=names,
                expression_attribute_values=values,
            )


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    # moto builds some URLs (queue URLs among them) from this, as its own launcher sets it.
    os.environ.setdefault("MOTO_PORT", str(port))
    DynamoDBBackend.transact_write_items = transact_write_items
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
