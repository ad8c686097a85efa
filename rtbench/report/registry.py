"""The reports of one run, in the order they are shown and written: a new report is one module
defining a `Report` (rtbench.report.base) and one line here."""

from rtbench.report import breakdown, claims, latex, plots, protocol, runtimes, table3
from rtbench.report.base import Report

REPORTS: tuple[Report, ...] = (
    protocol.CARD,
    table3.REPORT,
    runtimes.REPORT,
    claims.REPORT,
    breakdown.REPORT,
    latex.REPORT,
    plots.REPORT,
    runtimes.PLOT,
    breakdown.PLOT,
    protocol.FOOTER,
)
