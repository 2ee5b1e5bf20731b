"""The library messages a newcomer should not have to read, each silenced by its exact text.

Every one of them is about Lightning or PyTorch themselves, not about this run:
- Lightning's advertisement for its cloud logger, printed on every Trainer;
- PyTorch's deprecation of `LeafSpec`, triggered inside Lightning's own `_pytree` helper;
- "Checkpoint directory ... exists and is not empty": resuming writes into the run's own folder on purpose;
- "Your `IterableDataset` has `__len__` defined ...": a caution for several loader workers; the XOR
  stream runs in the main process, and its length is what makes an epoch end.
Any other warning still shows.
"""

from __future__ import annotations

import logging
import warnings

TIP = "💡 Tip: For seamless cloud logging"


def _not_the_tip(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(TIP)


def install() -> None:
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_not_the_tip)
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    warnings.filterwarnings("ignore", message=r"Your `IterableDataset` has `__len__` defined")
