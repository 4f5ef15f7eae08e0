"""Erasing a subject from the consent service (PRV-5, RET-5): every registered table's rows."""

from __future__ import annotations

from consent.adapters.projections import PROJECTIONS
from kernel.projections import NOTHING_HELD, describe, table_eraser

__all__ = ["NOTHING_HELD", "describe", "erase_subject"]

erase_subject = table_eraser(PROJECTIONS)
"""Deletes the subject's projection rows; the kernel drops the key and issues the receipt."""
