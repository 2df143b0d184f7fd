"""Open311 GeoReport v2 on the cases service (being written)."""
from fastapi import APIRouter

router = APIRouter(prefix="/open311/v2", tags=["open311"])
