"""Publishing the study: notebooks executed, then exported to an offline report, a reveal.js deck and a PDF.

Apart from what the course teaches; nothing in the rest of the package imports it. Modules, each importing only
those before it: `offline` (pages that fetch nothing), `export` (nbconvert: report and slides), `browser`
(Playwright on the system Chromium: checks, screenshots, PDF), `build` (papermill: `make report`).
Command line: ``python -m mnistlib.publish report|slides|pdf|check|shots|build``.
"""
