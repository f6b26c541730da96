"""The REST API (`/api/v1`): one NinjaAPI, a router per domain, errors as `{"code", "message", "details"}`."""

from ninja import NinjaAPI

from kesu.analytics.api import router as analytics_router
from kesu.cases.api import router as cases_router
from kesu.insight.api import router as insight_router
from kesu.intake.api import router as intake_router
from kesu.org.api import router as org_router
from kesu.policy.api import router as policy_router
from kesu.sla.api import router as sla_router

api = NinjaAPI(title="Kesu 客诉 API", version="1", urls_namespace="api")

api.add_router("/cases", cases_router)
api.add_router("/org", org_router)
api.add_router("/policy", policy_router)
api.add_router("/sla", sla_router)
api.add_router("/intake", intake_router)
api.add_router("/analytics", analytics_router)
api.add_router("/insight", insight_router)
