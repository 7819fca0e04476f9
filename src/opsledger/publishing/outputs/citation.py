"""How to cite the dataset, rendered from its one declaration (``schemas/dataset.toml``, see
:func:`opsledger.declarations.identity`): ``CITATION.cff`` (the repository's, and each release's with
its version and date) and the one-line citation text that the datasheet, the CSV bundle's README, the
Croissant metadata and the site's footer show.

Every citation leads to the data: a release's cites the GitHub Release its files are attached to
(``<repository>/releases/tag/v<version>``), the repository's the list of releases; with a DOI declared
(an archive deposit), the DOI first.
"""

from __future__ import annotations

from opsledger import __version__
from opsledger.declarations import Identity, identity

def release_url(version: str | None = None, ident: Identity | None = None) -> str:
    """Where a version's files are (its GitHub Release), or every release's without a version."""
    ident = ident or identity()
    return f"{ident.repository}/releases/tag/v{version}" if version else f"{ident.repository}/releases"


def citation_text(version: str | None = None, date: str | None = None) -> str:
    """The citation of one version as a person reads it, e.g.
    ``opsledger contributors (2026). opsledger: ... Version 0.1.0 [Data set]. <address>. Licence CC-BY-4.0.``
    Without a version: the version the repository holds and its date (``version_date``). The address is
    the DOI when one is declared, else the release's page (where its files are), or the list of
    releases without a version."""
    ident = identity()
    released = version is not None
    if version is None:
        version = __version__
    date = date or ident.version_date
    where = f"https://doi.org/{ident.doi}" if ident.doi else release_url(version if released else None, ident)
    return (f"{ident.author} ({date[:4]}). {ident.title}. Version {version} [Data set]. {where}. "
            f"Licence {ident.license}.")


def citation_cff(version: str | None = None, date: str | None = None) -> str:
    """CITATION.cff (Citation File Format 1.2.0). With a version and date: a release's; without: the
    repository's, citing the version it holds (``__version__``) and its ``version_date``."""
    from opsledger.publishing.templates import render

    ident = identity()
    released = version is not None
    if version is None:
        version, date = __version__, ident.version_date
    return render("CITATION.cff.j2", ident=ident, version=version, date=date or ident.version_date,
                  artifact=release_url(version if released else None, ident),
                  license_url=ident.data_license.url)


__all__ = ["citation_text", "citation_cff", "release_url"]
