"""Many tenants in one run: `maa-guard fleet scan`.

A workflow over the pipeline: imports ``scan`` and the stages below it; never ``cli``.
"""
