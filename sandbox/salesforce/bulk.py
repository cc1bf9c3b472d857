"""Bulk API 2.0 ingest jobs: job records, CSV in, per-row results out.

Jobs move Open → UploadComplete → InProgress → JobComplete (or Aborted/Failed). The
emulator processes the uploaded CSV when the job is closed, or — with a processing
delay configured — at the first status poll after the delay, so clients must poll as
they do against Salesforce.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
OPERATIONS = frozenset({"insert", "update"})
NULL_MARKER = "#N/A"


@dataclass
class RowResult:
    row: dict[str, str]
    record_id: str
    error: str | None = None
    created: bool = False


@dataclass
class IngestJob:
    id: str
    object: str
    operation: str
    api_version: float
    created_by: str
    created_date: str
    system_modstamp: str
    line_ending: str = "LF"
    column_delimiter: str = "COMMA"
    external_id_field: str | None = None
    state: str = "Open"
    data: str | None = None
    ready_at: float | None = None
    """Monotonic time after which a closed job is processed."""
    error_message: str | None = None
    results: list[RowResult] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    processing_ms: int = 0

    @property
    def content_url(self) -> str:
        return f"services/data/v{self.api_version:.1f}/jobs/ingest/{self.id}/batches"

    def info(self, *, created: bool = False) -> dict[str, Any]:
        """Job info with the keys Salesforce sends for the job's state."""
        out: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": self.created_date,
            "systemModstamp": self.system_modstamp,
            "state": self.state,
        }
        if self.external_id_field:
            out["externalIdFieldName"] = self.external_id_field
        out.update({"concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": self.api_version})
        if not created:
            out["jobType"] = "V2Ingest"
        if self.state == "Open":
            out["contentUrl"] = self.content_url
        out.update({"lineEnding": self.line_ending, "columnDelimiter": self.column_delimiter})
        if self.error_message:
            out["errorMessage"] = self.error_message
        if created:
            return out
        if self.state in ("JobComplete", "Failed", "Aborted") and self.results:
            out["numberRecordsProcessed"] = len(self.results)
            out["numberRecordsFailed"] = sum(1 for r in self.results if r.error is not None)
        elif self.state != "Open":
            out["numberRecordsProcessed"] = 0
            out["numberRecordsFailed"] = 0
        out.update(
            {
                "retries": 0,
                "totalProcessingTime": self.processing_ms,
                "apiActiveProcessingTime": self.processing_ms,
                "apexProcessingTime": 0,
            }
        )
        return out

    def rows(self) -> list[dict[str, str]]:
        """The uploaded CSV as dicts (raises ValueError on a malformed upload)."""
        text = self.data or ""
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[self.column_delimiter])
        lines = [line for line in reader if line]
        if not lines:
            raise ValueError("InvalidBatch : Field name not found : no header row")
        header = lines[0]
        self.columns = header
        out = []
        for number, line in enumerate(lines[1:], start=2):
            if len(line) != len(header):
                raise ValueError(f"ClientInputError : Wrong number of columns on line {number}")
            out.append(dict(zip(header, line, strict=True)))
        return out

    def results_csv(self, kind: str) -> str:
        """``successfulResults`` / ``failedResults`` / ``unprocessedrecords`` as CSV text."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        if kind == "successfulResults":
            writer.writerow(["sf__Id", "sf__Created", *self.columns])
            for r in self.results:
                if r.error is None:
                    writer.writerow(
                        [r.record_id, str(r.created).lower(), *(r.row.get(c, "") for c in self.columns)]
                    )
        elif kind == "failedResults":
            writer.writerow(["sf__Id", "sf__Error", *self.columns])
            for r in self.results:
                if r.error is not None:
                    writer.writerow([r.record_id, r.error, *(r.row.get(c, "") for c in self.columns)])
        else:
            writer.writerow(self.columns)
            if self.state in ("Aborted", "Failed") and not self.results and self.data:
                try:
                    for row in self.rows():
                        writer.writerow([row.get(c, "") for c in self.columns])
                except ValueError:
                    pass
        return buf.getvalue()


def csv_value(raw: str) -> Any:
    """Bulk CSV cell → value for a write: ``#N/A`` clears a field; empty is handled by the caller."""
    return None if raw == NULL_MARKER else raw
