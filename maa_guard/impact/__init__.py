"""`maa-guard impact`: which app-only automation MAA will block, and the ways out.

A workflow beside the pipeline: imports ``evaluate``, ``exclusions``, ``reporters``, ``snapshot``
and ``workloads``; never ``collect``, ``scan`` or ``cli``.

Pure computation (``compute``) over a snapshot, and renderers for the terminal, JSON, CSV
and a self-contained HTML page (``render``). Nothing here reads files or talks to Graph.
"""
