"""``maa-guard probe``: a read-only report of what a tenant's Graph really sends.

Imports ``collect`` (the client, the endpoints and ``$select`` lists it probes), ``reporters``
(the escaping of text output) and the foundation; never ``scan`` or the emulator.

``observe`` reads every endpoint maa-guard reads (first page only) into raw answers; ``model``
turns them into a :class:`~maa_guard.probe.report.ProbeReport` that holds no tenant text;
``verdicts`` judges each assumption of docs/assumptions.md (kept as data in ``assumptions``);
``render`` draws the report for the terminal, as JSON or as Markdown.
"""
