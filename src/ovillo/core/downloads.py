"""A CSV file streamed as a download, to the REST API and to the pages alike.

The rows come from an async iterator that reads each page in a short session of its own, so
a download held open for minutes holds no database connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterable

from fastapi.responses import StreamingResponse


def csv_download(chunks: AsyncIterable[str], *, filename: str) -> StreamingResponse:
    """``chunks`` of CSV text, streamed as the attachment ``filename``."""
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
