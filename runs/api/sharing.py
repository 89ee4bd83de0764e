"""A run's sharing: read by anyone who may see the run, replaced by its owner or staff."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring.schema import refusals
from runs import access
from runs.selectors.sharing import run_sharing
from runs.serializers import RunSharingSerializer
from runs.services.sharing import run_sharing_set

TAG = ["runs"]


class RunSharingApi(APIView):
    """GET: whom the run is shared with. PUT: replace that (owner or staff only)."""

    @extend_schema(
        tags=TAG,
        summary="Whom a run is shared with, read-only",
        responses={200: RunSharingSerializer},
    )
    def get(self, request: Request, run_id: int) -> Response:
        run = access.run_for_viewer(user=request.user, run_id=run_id)
        return Response(run_sharing(run).as_dict())

    @extend_schema(
        tags=TAG,
        summary="Replace a run's sharing (its owner or staff)",
        description="Every name is checked first: an unknown user or group is a 400 naming "
        "the field and the name, and nothing changes. A viewer of the run gets 403 "
        "run_read_only.",
        request=RunSharingSerializer,
        responses={200: RunSharingSerializer, **refusals(400, 403)},
    )
    def put(self, request: Request, run_id: int) -> Response:
        run = access.run_for_steerer(user=request.user, run_id=run_id)
        incoming = RunSharingSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        run_sharing_set(
            run=run,
            by=request.user,
            public=data["public"],
            users=data["users"],
            groups=data["groups"],
        )
        run.refresh_from_db(fields=["public"])
        return Response(run_sharing(run).as_dict())
