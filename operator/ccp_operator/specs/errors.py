"""The one error a resource spec can raise: which resource, which field, what is wrong."""

from __future__ import annotations


class SpecError(ValueError):
    """An invalid custom resource. ``path`` names the field as the user wrote it (``spec.skills[0].minLevel``)."""

    def __init__(self, kind: str, name: str, path: str, problem: str):
        self.kind, self.name, self.path, self.problem = kind, name, path, problem
        super().__init__(f"{kind}/{name}: {path}: {problem}")
