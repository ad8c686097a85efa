"""Reports: what a results document (or several, or the gate's findings) says, as terminal
tables, Markdown, CSV, LaTeX and plots. Nothing here measures; a report renders from the document
alone. The reports of one run are listed in rtbench.report.registry."""
