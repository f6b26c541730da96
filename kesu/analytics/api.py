"""API endpoints of kesu.analytics (mounted under /api/v1 by kesu/api.py)."""

from ninja import Router

router = Router(tags=["analytics"])
