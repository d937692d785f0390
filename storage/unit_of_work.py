"""The unit of work: one transaction, rolled back unless the caller commits."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import literal
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from storage.appends import StagedAppends
from storage.engine import SessionFactory
from storage.errors import ConflictError
from storage.repositories import (
    AgencyRepository,
    AuditRepository,
    ComplaintRepository,
    MessageRepository,
    OfficerRepository,
    OutboxRepository,
    ResidentRepository,
    RuleSetRepository,
)
from storage.repositories.claims import ContactClaimRepository
from storage.repositories.core import session_connection
from storage.repositories.deliveries import KeptDeliveryRepository
from storage.repositories.erasure import ErasureRepository
from storage.repositories.figures import FiguresRepository
from storage.repositories.open311 import Open311Repository
from storage.repositories.refusals import RefusedMessageRepository


class UnitOfWork:
    """`async with uow: ...; await uow.commit()` — leaving without commit rolls back."""

    agencies: AgencyRepository
    residents: ResidentRepository
    officers: OfficerRepository
    complaints: ComplaintRepository
    messages: MessageRepository
    outbox: OutboxRepository
    audit: AuditRepository
    rule_sets: RuleSetRepository
    refused: RefusedMessageRepository
    deliveries: KeptDeliveryRepository
    erasure: ErasureRepository
    claims: ContactClaimRepository
    figures: FiguresRepository
    open311: Open311Repository

    def __init__(self, session_factory: SessionFactory) -> None:
        self._session_factory = session_factory

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._session_factory()
        session = self._session
        self._appends = appends = StagedAppends()
        self.agencies = AgencyRepository(session)
        self.residents = ResidentRepository(session)
        self.officers = OfficerRepository(session)
        self.complaints = ComplaintRepository(session, appends)
        self.messages = MessageRepository(session, appends)
        self.outbox = OutboxRepository(session, appends)
        self.audit = AuditRepository(session, appends)
        self.rule_sets = RuleSetRepository(session)
        self.refused = RefusedMessageRepository(session)
        self.deliveries = KeptDeliveryRepository(session)
        self.erasure = ErasureRepository(session)
        self.claims = ContactClaimRepository(session)
        self.figures = FiguresRepository(session)
        self.open311 = Open311Repository(session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back whatever was not committed and detaches objects without expiring
        # them, so what a transaction read stays readable after it.
        await self._session.close()

    async def flush(self) -> None:
        """Write what was added or changed so far, keeping the transaction open."""
        try:
            await self._session.flush()
            await self._write_staged()
        except IntegrityError as exc:
            raise ConflictError(str(exc.orig)) from exc

    async def flush_changes(self) -> None:
        """Write the changed ORM objects, so later queries of this transaction see them;
        staged appends wait for the commit, as nothing reads them back before it."""
        session = self._session
        if not (session.new or session.dirty or session.deleted):
            return
        try:
            await session.flush()
        except IntegrityError as exc:
            raise ConflictError(str(exc.orig)) from exc

    async def commit(self) -> None:
        try:
            # Appended rows can only point at rows already flushed (an id exists only then),
            # so they go first and the commit flushes the ORM's changes after them.
            await self._write_staged()
            await self._session.commit()
        except IntegrityError as exc:
            raise ConflictError(str(exc.orig)) from exc

    async def _write_staged(self) -> None:
        """Write what the repositories keep until a flush: rate counts, appended rows."""
        await self.residents.write_counts()
        if self._appends:
            await self._appends.write(await session_connection(self._session))

    async def ping(self) -> None:
        await self._session.exec(select(literal(1)))


class UnitOfWorkFactory:
    """Hands out a fresh unit of work per transaction."""

    def __init__(self, session_factory: SessionFactory) -> None:
        self._session_factory = session_factory

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self._session_factory)
