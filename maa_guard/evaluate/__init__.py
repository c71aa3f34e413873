"""Stage 3, evaluate: run the rules' checks over a snapshot (``engine``), with read-only indexes
shared by every check (``context``). Pure: imports ``snapshot``, ``config``, ``catalogue``,
``checks``, ``exclusions`` and ``workloads``; never ``collect``, ``scan`` or ``cli``."""
