"""Lightning's start-up messages, held back until the run is known to be able to start.

An error in the configuration must be the only line on stderr; Lightning prints "Seed set to 777"
and the accelerator lines before the Trainer exists. So those records are kept while the CLI checks
its input, then printed in order, or dropped if the CLI stops with an error.
"""

from __future__ import annotations

import logging

HELD = ("lightning.pytorch", "lightning.fabric", "xor_lightning.cli")


class HeldLogs(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.handlers = [h for name in HELD for h in logging.getLogger(name).handlers]
        for handler in self.handlers:
            handler.addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        self.records.append(record)
        return False

    def release(self, emit: bool) -> None:
        """Stop holding; print what was held if `emit`. Only the first call does anything."""
        for handler in self.handlers:
            handler.removeFilter(self)
        self.handlers = []
        records, self.records = self.records, []
        if emit:
            for record in records:
                logging.getLogger(record.name).handle(record)
