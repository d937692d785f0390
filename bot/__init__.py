"""The service layer and its entry points, one sub-package per capability.

`domain` (pure) < `records` (what all share) < `messaging` < `sla` < `rules` <
`intake`, `officers` < `web`, `channel_registry` < `bootstrap` (the composition root) <
`cli`. A package imports only those below it; `make lint` checks it (import-linter).
"""
