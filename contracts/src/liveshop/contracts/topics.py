"""The registry of topics and of the event types that travel on them.

Every event type is registered on exactly one topic. A topic's key field names the aggregate
id used as the Kafka key, so one aggregate's events stay in order on one partition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from liveshop.contracts.base import Event

E = TypeVar("E", bound=type[Event])


@dataclass
class Topic:
    name: str
    key_field: str
    description: str
    partitions: int = 3
    events: list[type[Event]] = field(default_factory=list)

    def qualified(self, namespace: str = "") -> str:
        """The physical topic name; a namespace isolates tests and tenants on one cluster."""
        return f"{namespace}.{self.name}" if namespace else self.name

    def register(self, cls: E) -> E:
        if cls.EVENT_TYPE in _BY_TYPE:
            raise ValueError(f"event type {cls.EVENT_TYPE} registered twice")
        if self.key_field != cls.KEY_FIELD:
            raise ValueError(f"{cls.__name__}.KEY_FIELD={cls.KEY_FIELD} but topic {self.name} keys by {self.key_field}")
        if cls.KEY_FIELD not in cls.__pydantic_fields__:
            raise ValueError(f"{cls.__name__} has no field {cls.KEY_FIELD}")
        self.events.append(cls)
        _BY_TYPE[cls.EVENT_TYPE] = cls
        _TOPIC_OF[cls.EVENT_TYPE] = self
        return cls


_BY_TYPE: dict[str, type[Event]] = {}
_TOPIC_OF: dict[str, Topic] = {}
TOPICS: dict[str, Topic] = {}


def topic(name: str, key_field: str, description: str, partitions: int = 3) -> Topic:
    t = Topic(name=name, key_field=key_field, description=description, partitions=partitions)
    TOPICS[name] = t
    return t


def event_class(event_type: str) -> type[Event] | None:
    return _BY_TYPE.get(event_type)


def topic_of(event: type[Event] | Event) -> Topic:
    cls = event if isinstance(event, type) else type(event)
    return _TOPIC_OF[cls.EVENT_TYPE]


def all_event_types() -> dict[str, type[Event]]:
    return dict(_BY_TYPE)


def dead_letter_topic(consumer_group: str, namespace: str = "") -> str:
    """Dead-letter topic of one consumer group: ``liveshop.dlt.<group>``."""
    name = f"liveshop.dlt.{consumer_group}"
    return f"{namespace}.{name}" if namespace else name
