"""Many tenants in one run: `maa-guard fleet scan`."""
