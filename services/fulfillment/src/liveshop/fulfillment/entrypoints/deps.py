"""What the entrypoints need besides the runtime, built once by ``bootstrap.build``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from liveshop.fulfillment.adapters.secrets import SecretBox
from liveshop.fulfillment.domain.reports import ReportPolicy
from liveshop.fulfillment.domain.signature import REPLAY_WINDOW


@dataclass(frozen=True)
class Deps:
    policy: ReportPolicy
    box: SecretBox
    replay_window: timedelta = REPLAY_WINDOW
    #: Signed Kafka records: accepted distance of the signed timestamp from when the record is consumed.
    kafka_window: timedelta = timedelta(hours=24)
