"""NetSuite's error shape, apart so that the record contract (``contract``) and the shared parsers
(``common``) can both raise it."""

from __future__ import annotations


class NsError(Exception):
    """An error NetSuite answers: ``o:errorCode``, ``detail`` and, for a field, ``o:errorPath`` (JSONPath)."""

    def __init__(self, status: int, code: str, detail: str, *, path: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.path = status, code, detail, path
