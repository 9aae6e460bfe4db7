"""specgen: CNN architectures as checked, declarative specs."""

from __future__ import annotations

__version__ = "0.1.0"
