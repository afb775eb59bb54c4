"""Canonical events: the envelope, the event types, and their JSON Schemas."""

from shared.events.envelope import CanonicalEvent, EventData, EventMetadata, new_event

__all__ = ["CanonicalEvent", "EventData", "EventMetadata", "new_event"]
