"""The public figures: /transparansi, its open data (CSV, JSON) and agencies.json.

Nothing here names a person: the figures are counts, and the open data's columns are the
complaint's reference, agency, category, channel, status and times (bot.sla.figures).
The exports stream a page of complaints at a time, each read in its own transaction, so
that a million rows take flat memory and never hold the database from intake.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates

from bot.messaging.templates import format_when, render
from bot.sla.figures import (
    LICENCE,
    LICENCE_URL,
    RECORD_FIELDS,
    AgencyFigures,
    Period,
    PeriodError,
    Transparency,
)
from channels.web import ErrorOut, page_words

# Columns the table sorts by (most received first unless asked); numbers start from the
# largest, codes from A.
SORTABLE = (
    "agency_code",
    "received",
    "answered",
    "answered_in_time",
    "answered_in_time_pct",
    "median_first_response_hours",
    "open",
    "overdue",
)
_LICENCE_LINK = f'<{LICENCE_URL}>; rel="license"'
_PERIOD_REFUSED: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorOut,
        "description": "`from` or `to` is not a date (YYYY-MM-DD), `from` is after `to`, "
        "or the period is longer than a year",
    }
}
_CSV = {"text/csv": {"schema": {"type": "string"}}}
_JSON_STREAM = {"application/json": {"schema": {"type": "object"}}}


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of a chart: its label, its length in % of the chart, what it says."""

    label: str
    length: float
    value: str


def _bars(
    rows: list[AgencyFigures],
    value: Callable[[AgencyFigures], float | None],
    top: float,
    said: Callable[[Any], str],
) -> list[Bar]:
    bars = []
    for row in rows:
        number = value(row)
        length = 100 * number / top if number and top else 0
        bars.append(Bar(row.agency_code, length, said(number)))
    return bars


def _sorted(rows: list[AgencyFigures], key: str, descending: bool) -> list[AgencyFigures]:
    present = [row for row in rows if getattr(row, key) is not None]
    missing = [row for row in rows if getattr(row, key) is None]
    present.sort(key=lambda row: getattr(row, key), reverse=descending)
    return present + missing  # no value sorts last either way


def _period(first: str | None, last: str | None, figures: Transparency) -> Period:
    try:
        return Period.parse(first, last, figures.today())
    except PeriodError as exc:
        raise HTTPException(400, str(exc)) from None


def _file_name(period: Period, extension: str) -> str:
    return f"aduan-{period.first.isoformat()}-{period.last.isoformat()}.{extension}"


def _export_headers(period: Period, extension: str) -> dict[str, str]:
    return {
        "Content-Disposition": f'attachment; filename="{_file_name(period, extension)}"',
        "Link": _LICENCE_LINK,
    }


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def transparency_routes(figures: Transparency, pages: Jinja2Templates) -> APIRouter:
    router = APIRouter(tags=["open data"])

    @router.get("/transparansi", response_class=HTMLResponse, include_in_schema=False)
    async def page(
        request: Request,
        first: str | None = Query(None, alias="from"),
        to: str | None = None,
        lang: str = "id",
        sort: str = "received",
        order: str | None = None,
    ) -> HTMLResponse:
        language = "en" if lang == "en" else "id"
        t = page_words(render, language)
        context: dict[str, Any] = {
            "lang": language,
            "t": t,
            "typed_from": (first or "")[:40],
            "typed_to": (to or "")[:40],
            "licence": LICENCE,
            "licence_url": LICENCE_URL,
            "licence_text": render("figures_licence", language, licence=LICENCE),
            "define_received": render("figures_define_received", language, zone=figures.zone.key),
            "exports": "",
        }
        try:
            period = Period.parse(first, to, figures.today())
        except PeriodError as exc:
            context["error"] = exc.said(language)
            return pages.TemplateResponse(request, "transparency.html", context, status_code=400)
        found = await figures.figures(period)
        trend = await figures.trend(period.last, found.generated_at)
        key = sort if sort in SORTABLE else "received"
        descending = order == "desc" if order in ("asc", "desc") else key != "agency_code"
        rows = _sorted(found.agencies, key, descending)
        here = {"from": period.first.isoformat(), "to": period.last.isoformat()}

        def link(**changes: str) -> str:
            query = {
                **here,
                "lang": language,
                "sort": key,
                "order": "desc" if descending else "asc",
            }
            return "?" + urlencode({**query, **changes})

        def sort_link(column: str) -> str:
            if column == key:
                flipped = "asc" if descending else "desc"
            else:
                flipped = "asc" if column == "agency_code" else "desc"
            return link(sort=column, order=flipped)

        charted = [row for row in rows if row.received]
        top_received = max((row.received for row in charted), default=0)
        context.update(
            period=period,
            shown=render(
                "figures_shown",
                language,
                first=period.first.isoformat(),
                last=period.last.isoformat(),
                zone=figures.zone.key,
                generated=format_when(found.generated_at, language, figures.zone),
            ),
            trend_label=lambda code: render("figures_trend_chart", language, agency=code),
            rows=rows,
            sort=key,
            descending=descending,
            columns=SORTABLE[1:],
            sort_link=sort_link,
            switch_link=link(lang="id" if language == "en" else "en"),
            exports="?" + urlencode(here),
            pct_bars=_bars(charted, lambda row: row.answered_in_time_pct, 100, _percent),
            received_bars=_bars(charted, lambda row: row.received, top_received, str),
            trend=trend,
            trend_months=next(iter(trend.values()), []),
            trend_top={code: max(m.received for m in series) for code, series in trend.items()},
            pct=_decimal_text,
            percent=_percent,
        )
        return pages.TemplateResponse(request, "transparency.html", context)

    @router.get(
        "/transparansi/agencies.json",
        summary="The figures per agency of /transparansi, for a period (CC BY 4.0)",
        response_model=list[AgencyFigures],
        responses=_PERIOD_REFUSED,
    )
    async def agencies(
        first: str | None = Query(None, alias="from", description="First day, YYYY-MM-DD"),
        to: str | None = Query(None, description="Last day, YYYY-MM-DD (default today)"),
    ) -> JSONResponse:
        period = _period(first, to, figures)
        found = await figures.figures(period)
        body = [asdict(row) for row in found.agencies]
        headers = {"Link": _LICENCE_LINK, "X-Generated-At": _iso(found.generated_at)}
        return JSONResponse(body, headers=headers)

    @router.get(
        "/transparansi/data.csv",
        summary="Every complaint received in the period, one row each (CC BY 4.0)",
        response_class=StreamingResponse,
        responses={200: {"content": _CSV}, **_PERIOD_REFUSED},
    )
    async def data_csv(
        first: str | None = Query(None, alias="from", description="First day, YYYY-MM-DD"),
        to: str | None = Query(None, description="Last day, YYYY-MM-DD (default today)"),
    ) -> Response:
        period = _period(first, to, figures)
        return StreamingResponse(
            _csv_lines(figures, period),
            media_type="text/csv; charset=utf-8",
            headers=_export_headers(period, "csv"),
        )

    @router.get(
        "/transparansi/data.json",
        summary="Every complaint received in the period, with the licence (CC BY 4.0)",
        response_class=StreamingResponse,
        responses={200: {"content": _JSON_STREAM}, **_PERIOD_REFUSED},
    )
    async def data_json(
        first: str | None = Query(None, alias="from", description="First day, YYYY-MM-DD"),
        to: str | None = Query(None, description="Last day, YYYY-MM-DD (default today)"),
    ) -> Response:
        period = _period(first, to, figures)
        return StreamingResponse(
            _json_parts(figures, period),
            media_type="application/json",
            headers=_export_headers(period, "json"),
        )

    return router


def _decimal_text(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}%"


async def _csv_lines(figures: Transparency, period: Period) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RECORD_FIELDS)
    async for page in figures.records(period):
        writer.writerows(page)  # None is written as an empty field
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


async def _json_parts(figures: Transparency, period: Period) -> AsyncIterator[str]:
    head = {
        "licence": LICENCE,
        "licence_url": LICENCE_URL,
        "generated_at": _iso(figures.as_of()),
        "period": {
            "from": period.first.isoformat(),
            "to": period.last.isoformat(),
            "zone": figures.zone.key,
        },
    }
    yield json.dumps(head)[:-1] + ', "complaints": ['
    separator = ""
    async for page in figures.records(period):
        yield separator + ",".join(
            json.dumps(dict(zip(RECORD_FIELDS, row, strict=True))) for row in page
        )
        separator = ","
    yield "]}"
