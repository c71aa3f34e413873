"""Stage 3, evaluate: run the rules' checks over a snapshot (``engine``), with read-only indexes
shared by every check (``context``), and who filed and approved each request when Graph
leaves it null (``identities``, from the audit log). Pure: imports ``snapshot``, ``config``,
``catalogue``, ``checks``, ``exclusions`` and ``workloads``; never ``collect``, ``scan`` or
``cli``."""
