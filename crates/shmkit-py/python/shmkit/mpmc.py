"""MPMC queues: many producer and many consumer processes, each message
delivered exactly once. ``shmkit.mpmc.Producer`` is ``shmkit.MpmcProducer``."""

from ._shmkit import MpmcConsumer as Consumer
from ._shmkit import MpmcProducer as Producer

__all__ = ["Consumer", "Producer"]
