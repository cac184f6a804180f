"""The canonical data model: eight tables, their columns, types and meanings.

The five core tables (reps, opportunities, targets, activities, snapshots) are joined by two
optional dimension tables, ``accounts`` and ``satisfaction``, and by the optional ``calls``
(the managers' forecast calls): absent, they change nothing.

Every loader produces these tables with exactly these column names and dtypes,
whatever the source (a folder of CSVs, a CRM export through an import profile,
a database). Analytics code reads only these names.

Types: ``str`` (text), ``date`` (naive ``datetime64``, day precision), ``float``
(currency units or counts), ``int``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal["str", "date", "float", "int"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    required: bool
    description: str
    choices: tuple[str, ...] | None = None


OUTCOMES = ("open", "won", "lost")
FORECAST_CATEGORIES = ("pipeline", "best_case", "commit", "omitted")
ACTIVITY_TYPES = ("call", "email", "meeting", "demo")
SATISFACTION_KINDS = ("csat", "nps")
#: Kinds of deal (``opportunities.deal_type``): a new customer, the renewal of a contract the
#: customer has, more of or another product for an existing customer, or an existing
#: customer's deal that the export does not say is a renewal or an expansion (HubSpot's
#: "Existing Business").
DEAL_TYPES = ("new_business", "renewal", "expansion", "existing")
#: The score range of each satisfaction kind: CSAT 1-5, NPS 0-10 (inclusive).
SATISFACTION_RANGE = {"csat": (1.0, 5.0), "nps": (0.0, 10.0)}
#: Whose forecast call a ``calls`` row is: the team review's subject types.
CALL_SUBJECTS = ("manager", "region", "team", "rep", "all")
#: The kinds of call: what the manager commits to, and the upside they see.
CALL_CATEGORIES = ("commit", "best_case")

TABLES: dict[str, tuple[Column, ...]] = {
    "reps": (
        Column("rep_id", "str", True, "Unique id of the sales rep."),
        Column("name", "str", True, "Display name of the rep."),
        Column("manager", "str", True, "Name of the rep's manager."),
        Column("region", "str", True, "Region or regional office."),
        Column("team", "str", False, "Team within the region (defaults to the region)."),
        Column("start_date", "date", False, "Date the rep started; drives the tenure ramp."),
    ),
    "opportunities": (
        Column("opp_id", "str", True, "Unique id of the opportunity (deal)."),
        Column("rep_id", "str", True, "Owner of the deal; must exist in reps."),
        Column("account", "str", False, "Customer account name (blank allowed for early deals)."),
        Column("product", "str", False, "Product or product line."),
        Column("stage", "str", True, "Current stage; one of the stage catalogue's names."),
        Column("amount", "float", True, "Deal value in the data set's currency (>= 0)."),
        Column("created_date", "date", True, "Date the deal was created (or first engaged)."),
        Column(
            "close_date",
            "date",
            False,
            "Actual close date for won/lost deals; expected close date for open deals.",
        ),
        Column("outcome", "str", True, "open, won or lost; derived from the stage.", OUTCOMES),
        Column(
            "forecast_category",
            "str",
            False,
            "pipeline, best_case, commit or omitted (rep's own call).",
            FORECAST_CATEGORIES,
        ),
        Column("source", "str", False, "Lead source, e.g. inbound, outbound, partner."),
        Column(
            "furthest_stage",
            "str",
            False,
            "The furthest open stage the deal reached (for lost deals: the stage it was lost at).",
        ),
        Column("last_activity_date", "date", False, "Last time anything changed on the deal."),
        # optional columns of issue 22 (renewals and churn, loss reasons): appended last
        Column(
            "deal_type",
            "str",
            False,
            "new_business, renewal, expansion or existing (existing customer, kind not said).",
            DEAL_TYPES,
        ),
        Column("loss_reason", "str", False, "Why a lost deal was lost (free text; blank allowed)."),
    ),
    "targets": (
        Column("rep_id", "str", False, "Rep the target belongs to (blank for a region target)."),
        Column("region", "str", False, "Region the target belongs to (blank for a rep target)."),
        Column("month", "date", True, "First day of the target's month."),
        Column("amount", "float", True, "Bookings target for that month, in currency (>= 0)."),
    ),
    "activities": (
        Column("rep_id", "str", True, "Rep who did the activity."),
        Column("date", "date", True, "Day (or first day of the week) of the activity."),
        Column("type", "str", True, "call, email, meeting or demo.", ACTIVITY_TYPES),
        Column("count", "int", True, "Number of activities of that type (>= 0)."),
    ),
    "snapshots": (
        Column("as_of", "date", True, "Date the snapshot was taken (weekly)."),
        Column("opp_id", "str", True, "Opportunity id; matches opportunities.opp_id."),
        Column("rep_id", "str", False, "Owner at snapshot time."),
        Column("stage", "str", True, "Stage at snapshot time."),
        Column("amount", "float", True, "Amount at snapshot time, in currency."),
        Column("close_date", "date", True, "Expected close date at snapshot time."),
        Column(
            "forecast_category",
            "str",
            False,
            "Forecast category at snapshot time.",
            FORECAST_CATEGORIES,
        ),
    ),
    "accounts": (
        Column("account", "str", True, "Customer account name; matches opportunities.account."),
        Column("segment", "str", False, "Customer segment, e.g. SMB, Mid-market, Enterprise."),
        Column("industry", "str", False, "Industry or sector of the customer."),
        Column("size", "str", False, "Company size: a band (51-200) or a head count."),
        Column("country", "str", False, "Country of the customer."),
        Column("owner", "str", False, "rep_id of the account's owner; must exist in reps."),
    ),
    "satisfaction": (
        Column("account", "str", True, "Customer account the response is about."),
        Column("date", "date", True, "Date of the survey response."),
        Column("score", "float", True, "The score: CSAT 1-5, NPS 0-10."),
        Column("kind", "str", True, "csat or nps.", SATISFACTION_KINDS),
    ),
    # --- the manager's forecast call (optional; salesnb.data.calls) ---
    "calls": (
        Column("subject_type", "str", True, "manager, region, team, rep or all.", CALL_SUBJECTS),
        Column("subject", "str", False, "Manager's name, region, team or rep_id; blank for all."),
        Column("period", "str", True, "Fiscal quarter the call is for, e.g. FY2026-Q4."),
        Column("amount", "float", True, "The call: bookings expected in the quarter (>= 0)."),
        Column("as_of", "date", True, "Date the call was made."),
        Column("category", "str", False, "commit (the default) or best_case.", CALL_CATEGORIES),
    ),
}

#: Tables a data set must have; the others may be absent (empty).
REQUIRED_TABLES = ("reps", "opportunities")
#: The five core tables every data set is described by.
CORE_TABLES = ("reps", "opportunities", "targets", "activities", "snapshots")
#: Optional tables that add dimensions (customer segment, industry, satisfaction); absent,
#: they change nothing.
DIMENSION_TABLES = ("accounts", "satisfaction")
#: Optional columns added to a table after its first release. Blank on every row (or absent
#: from a frame built by hand), they are left out of the data's fingerprint, so data without
#: them keeps the fingerprint it had.
LATER_COLUMNS = {"opportunities": ("deal_type", "loss_reason")}
#: Every optional table: the dimension tables and the managers' forecast calls.
OPTIONAL_TABLES = (*DIMENSION_TABLES, "calls")


def columns(table: str) -> list[str]:
    """Canonical column names of ``table`` in order.

    Examples
    --------
    >>> columns("targets")
    ['rep_id', 'region', 'month', 'amount']
    """
    return [c.name for c in TABLES[table]]


def required_columns(table: str) -> list[str]:
    return [c.name for c in TABLES[table] if c.required]
