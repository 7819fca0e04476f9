"""The files a release carries for readers: CSV, SQLite and the datapackage (:mod:`.exports`), the
offline site and its charts, release notes and the datasheet, and the bundle."""
