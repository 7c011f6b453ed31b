"""Staff API keys with roles, and the audit log for the data-protection officer.

- `/v1/staff/keys` (operator): create a key with one role (shown once), list
  keys without secrets, revoke one by its prefix. Creating and revoking are audited.
- `GET /v1/staff/me` (any staff key): the role and name of the key sent.
- `/v1/audit…` (dpo, with `X-Purpose`; each read is itself audited): the audit
  log, its chain verification, and the current cohort run's audit (no members).

docs/access.md has the roles, the actions recorded and the rate limits.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from fairview.accountability.chain import verify
from fairview.accountability.roles import Role
from fairview.api.deps import AuditDep, DpoDep, OperatorDep, Services, ServicesDep, StaffDep
from fairview.api.schemas import to_datetime
from fairview.audience import topics as tx
from fairview.errors import NotFound
from fairview.storage.audit import AuditEntry
from fairview.storage.staff import StaffKeyRecord

router = APIRouter(prefix="/v1")

MAX_AUDIT_PAGE = 1000


class StaffKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Who holds the key.")
    role: Role


class StaffKeyPublic(BaseModel):
    prefix: str = Field(description="The key's first characters: its public name.")
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, record: StaffKeyRecord) -> StaffKeyPublic:
        revoked = None if record.revoked_ms is None else to_datetime(record.revoked_ms)
        return cls(
            prefix=record.prefix,
            name=record.name,
            role=record.role,
            created_at=to_datetime(record.created_ms),
            revoked_at=revoked,
        )


class StaffKeyCreated(StaffKeyPublic):
    key: str = Field(description="The key itself, shown only this once.")


class StaffMe(BaseModel):
    role: Role
    name: str
    key_prefix: str


@router.post("/staff/keys", status_code=201, response_model=StaffKeyCreated)
def create_staff_key(
    body: StaffKeyCreate, services: ServicesDep, operator: OperatorDep, trail: AuditDep
) -> StaffKeyCreated:
    """A new staff key with one role; the key is in this response only."""
    record, key = services.store.staff.create(body.name, body.role, services.clock.now_ms())
    trail.record(
        operator.actor,
        "staff.key.created",
        f"staff_key:{record.prefix}",
        {"role": record.role.value, "name": record.name},
    )
    return StaffKeyCreated(**StaffKeyPublic.of(record).model_dump(), key=key)


@router.get("/staff/keys", response_model=list[StaffKeyPublic])
def list_staff_keys(services: ServicesDep, _: OperatorDep) -> list[StaffKeyPublic]:
    """Every staff key, revoked ones included; never a secret."""
    return [StaffKeyPublic.of(r) for r in services.store.staff.list()]


@router.delete("/staff/keys/{prefix}", response_model=StaffKeyPublic)
def revoke_staff_key(
    prefix: str, services: ServicesDep, operator: OperatorDep, trail: AuditDep
) -> StaffKeyPublic:
    """Revoke a key at once; revoking it again changes nothing and is not recorded again."""
    before = services.store.staff.get(prefix[:16])
    if before is None:
        raise NotFound("staff_key_not_found", f"No staff key with prefix '{prefix[:16]}'.")
    record = services.store.staff.revoke(before.prefix, services.clock.now_ms()) or before
    if before.revoked_ms is None:
        trail.record(
            operator.actor,
            "staff.key.revoked",
            f"staff_key:{record.prefix}",
            {"role": record.role.value, "name": record.name},
        )
    return StaffKeyPublic.of(record)


@router.get("/staff/me", response_model=StaffMe)
def staff_me(staff: StaffDep) -> StaffMe:
    return StaffMe(role=staff.role, name=staff.name, key_prefix=staff.key_prefix)


# The data-protection officer -----------------------------------------------------------


class AuditEntryOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    purpose: str
    subject: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, e: AuditEntry) -> AuditEntryOut:
        return cls(
            seq=e.seq,
            at=to_datetime(e.at_ms),
            actor=e.actor,
            action=e.action,
            purpose=e.purpose,
            subject=e.subject,
            detail=dict(e.detail),
            prev_hash=e.prev_hash,
            hash=e.hash,
        )


class AuditPage(BaseModel):
    entries: list[AuditEntryOut]
    next_after: int | None = Field(description="Pass as `after` for the next page; null: done.")


@router.get("/audit", response_model=AuditPage)
def read_audit_log(
    services: ServicesDep,
    _: DpoDep,
    action: Annotated[str | None, Query(max_length=60)] = None,
    since: Annotated[datetime | None, Query(description="From this time on.")] = None,
    after: Annotated[int, Query(ge=0, description="Records after this sequence number.")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_PAGE)] = 100,
) -> AuditPage:
    """Audit records, oldest first (this read is recorded in the log before it is made)."""
    since_ms = 0 if since is None else int(_aware(since).timestamp() * 1000)
    return search_audit_log(services, action=action, since_ms=since_ms, after=after, limit=limit)


def search_audit_log(
    services: Services,
    *,
    action: str | None = None,
    action_prefix: str | None = None,
    actor: str | None = None,
    subject: str | None = None,
    since_ms: int = 0,
    until_ms: int | None = None,
    after: int = 0,
    limit: int = 100,
) -> AuditPage:
    """One page of audit records, oldest first: `GET /v1/audit` and the DPO's log page.

    `action` is exact; `action_prefix` a start (`dpo.`); `actor` and `subject` match
    part of the field, case-insensitively; the period is [since_ms, until_ms].
    """
    found = services.store.audit.search(
        action=action,
        action_prefix=action_prefix,
        actor=actor,
        subject=subject,
        since_ms=since_ms,
        until_ms=until_ms,
        after=after,
        limit=limit + 1,
    )
    more = len(found) > limit
    page = [AuditEntryOut.of(entry) for entry in found[:limit]]
    return AuditPage(entries=page, next_after=page[-1].seq if more else None)


class AuditHead(BaseModel):
    seq: int
    hash: str
    anchor: str = Field(description="SEQ:HASH, to keep outside the database.")


class AuditVerdict(BaseModel):
    intact: bool
    records: int
    head: AuditHead | None
    problems: list[str]


@router.get("/audit/verify", response_model=AuditVerdict)
def verify_audit_log(services: ServicesDep, _: DpoDep) -> AuditVerdict:
    """Walk the hash chain, as `fairview audit verify` does (without an anchored head)."""
    verdict = verify(services.store.audit)
    head = verdict.head
    return AuditVerdict(
        intact=verdict.intact,
        records=verdict.records,
        head=None if head is None else AuditHead(seq=head.seq, hash=head.hash, anchor=str(head)),
        problems=list(verdict.problems),
    )


class CohortAuditRow(BaseModel):
    id: str
    size: int
    topics: list[str]
    served: bool
    reason: str
    max_gap: float
    max_lift: float


class CohortAuditOut(BaseModel):
    run: str
    created_at: datetime
    epoch: int
    k_min: int
    viewers: int = Field(description="Profiled viewers the run clustered (a count).")
    status: str
    notes: list[str]
    cohorts: list[CohortAuditRow]


@router.get("/audit/cohorts", response_model=CohortAuditOut)
def cohort_audit(services: ServicesDep, _: DpoDep) -> CohortAuditOut:
    """The current cohort run's sensitivity audit: sizes, topics, decisions; never members."""
    run = services.store.cohorts.current_run()
    if run is None:
        raise NotFound("no_cohort_run", "No cohort run yet: run `fairview jobs cohorts`.")
    return CohortAuditOut(
        run=run.id,
        created_at=to_datetime(run.created_ms),
        epoch=run.epoch,
        k_min=run.k_min,
        viewers=run.viewers,
        status=run.status,
        notes=[str(n) for n in run.summary.get("notes", ())],
        cohorts=[
            CohortAuditRow(
                id=str(c.id),
                size=c.size,
                topics=[tx.topics_v2()[t].path for t in c.topics],
                served=c.served,
                reason=c.reason,
                max_gap=c.max_gap,
                max_lift=c.max_lift,
            )
            for c in services.store.cohorts.cohorts(run.id)
        ],
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
