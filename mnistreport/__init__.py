"""Publishing the study: notebooks executed, then exported to an offline report, a reveal.js deck and a PDF.

A package of its own beside mnistlib: it imports mnistlib, never the other way round, and its tools (nbclient,
nbconvert, Playwright) are the `publish` extra (`pip install -e '.[publish]'`). Modules, each importing only
those before it: `info` (report.toml: author, course, title), `offline` (pages that fetch nothing), `export`
(nbconvert: report and slides, reveal.js vendored under vendor/), `browser` (Playwright on the system Chromium:
checks, screenshots, PDF), `build` (nbclient: `make report`), `readme` (README's generated blocks), `demo` (the
live drawing demo). Command line: ``python -m mnistreport build|report|slides|pdf|check|shots|readme``.
"""
