"""How long things take in the emulated tenant, in emulated seconds at speed 1.0.

One place for every duration, so realism can be tuned (and reviewed) without reading the state machines.
Values follow what a small Qlik Cloud project shows: actions queue for a moment, each task takes a few
seconds to prepare, a table loads in a few seconds.
"""

from __future__ import annotations

ACTION_PENDING_SECONDS = 0.5

# Preparing a task (generating and deploying its artifacts), by task type.
PREPARE_SECONDS: dict[str, float] = {
    "LANDING": 3.0,
    "LAKE_LANDING": 3.0,
    "REPLICATION": 3.0,
    "REGISTERED_DATA": 2.0,
    "STORAGE": 4.0,
    "QVD_STORAGE": 4.0,
    "LAKEHOUSE_STORAGE": 4.0,
    "TRANSFORM": 5.0,
    "DATAMART": 6.0,
}
DEFAULT_PREPARE_SECONDS = 4.0
VALIDATE_SECONDS_FACTOR = 0.5  # validation generates nothing: about half a prepare
RECREATE_EXTRA_SECONDS = 1.0  # dropping the existing tables first

IMPORT_TASK_SECONDS = 1.0  # import-async writes one task's definition (no artifacts are generated)

TASK_STARTING_SECONDS = 2.0
TASK_STOPPING_SECONDS = 1.5
INCREMENTAL_BATCH_SECONDS = 2.0  # a run with nothing to full-load applies one batch of changes
MAX_PARALLEL_LOADS = 4  # Qlik loads several tables at once
# Full load of one dataset: between MIN and MIN + SPREAD seconds, fixed per dataset name.
LOAD_MIN_SECONDS = 2.0
LOAD_SPREAD_SECONDS = 4.0

OAUTH_TOKEN_LIFETIME_SECONDS = 3600


def prepare_seconds(task_type: str) -> float:
    return PREPARE_SECONDS.get(task_type, DEFAULT_PREPARE_SECONDS)
