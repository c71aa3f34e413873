"""The scan pipeline as commands and the fleet run it: input (a snapshot file, the demo, or live
collection with progress) -> snapshot -> evaluate -> gate -> reports. Imports every stage below
it, and the emulator only for the demo (``served``, which runs it in a process of its own);
never ``cli``."""
