"""Local storage helpers shared by every stage: atomic files (regular files only, never an
input), TOML and bounded JSON reading, the user data folder and private database files, the
state file's tables, and the SQLite WAL switch. Imports only ``maa_guard.errors``."""
