"""Local storage helpers shared by every stage: atomic files, TOML reading, the user data folder
and the SQLite WAL switch. Imports only ``maa_guard.errors``."""
