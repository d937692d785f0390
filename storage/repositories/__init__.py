"""Repositories: the queries the service layer needs, one module per aggregate, named for
what they find. The unit of work holds one of each."""

from storage.repositories.agencies import AgencyRepository
from storage.repositories.audit import AuditRepository
from storage.repositories.complaints import ComplaintRepository
from storage.repositories.messages import (
    ConversationEntry,
    MessageRepository,
    SeenInbound,
    ThreadHit,
)
from storage.repositories.officers import OfficerRepository
from storage.repositories.outbox import OutboxRepository
from storage.repositories.residents import ResidentRepository
from storage.repositories.rules import RuleSetRepository

__all__ = [
    "AgencyRepository",
    "AuditRepository",
    "ComplaintRepository",
    "ConversationEntry",
    "MessageRepository",
    "OfficerRepository",
    "OutboxRepository",
    "ResidentRepository",
    "RuleSetRepository",
    "SeenInbound",
    "ThreadHit",
]
