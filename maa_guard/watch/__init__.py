"""`maa-guard watch`: poll MAA requests, exclusions and approver groups; notify exactly once.

A workflow over the pipeline: imports ``scan`` (live collection) and the stages below it;
never ``cli``.

The pipeline of one poll::

    observe (Graph, read-only) -> Reading -> detect (pure) -> Observation + Events
        -> store (SQLite, one transaction) -> outbox -> deliver (Teams, Slack, webhook, email)

``docs/watch.md`` describes events, configuration, routing and the delivery guarantees.
Importing this package has no side effects.
"""
