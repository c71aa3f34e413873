"""maa-guard: audit Microsoft Intune Multi Admin Approval (MAA)."""

__version__ = "0.1.0"
