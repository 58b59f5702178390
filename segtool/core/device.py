"""Compatibility name: device, precision and CPU-count choices live in `models.device` (one
implementation for inference, training and the app). Import from there."""

from __future__ import annotations

from models.device import (  # noqa: F401 - re-exported
    PRECISIONS,
    DeviceChoice,
    cpu_count,
    default_cpu_threads,
    default_loader_workers,
    describe_device,
    list_devices,
    resolve_device,
    resolve_precision,
)
