"""The consent service's projection tables: the one place each table is registered.

A feature adds its table to :data:`PROJECTIONS` with its DDL and the column naming its
data subject; the migration creates it and the eraser deletes the subject's rows (PRV-5).
"""

from __future__ import annotations

from kernel.projections import ProjectionTable

PROJECTIONS: tuple[ProjectionTable, ...] = ()
"""Every projection table of the service; none yet in this slice."""
