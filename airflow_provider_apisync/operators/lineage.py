"""Lineage of a pull: input = the API endpoint, outputs = the files written.

Names follow the OpenLineage naming spec (namespace = ``scheme://authority``, name =
path; local files: namespace ``file``; buckets: ``s3://bucket`` + key). The OpenLineage
provider is optional: :func:`openlineage_facets` imports it lazily and returns None when
it is not installed, so nothing here is a hard dependency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_apisync.client.urls import DEFAULT_PORTS, join_url

Dataset = tuple[str, str]  # (namespace, name)


def api_dataset(base_url: str, endpoint: str) -> Dataset:
    """``("https://api.crm.example:443", "/v2/contacts")`` -- never a query string."""
    parts = urlsplit(join_url(base_url, endpoint))
    scheme = parts.scheme.lower()
    port = parts.port or DEFAULT_PORTS.get(scheme, 0)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}", parts.path or "/"


def storage_dataset(uri: str) -> Dataset:
    """OpenLineage naming for a storage URI (``file:///p`` -> ``("file", "/p")``)."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower() or "file"
    if scheme in ("file", "local"):
        return "file", parts.path
    return f"{scheme}://{parts.netloc}", parts.path.lstrip("/")


def output_datasets(folder_uri: str, files: Iterable[str]) -> list[Dataset]:
    base = folder_uri.rstrip("/")
    return [storage_dataset(f"{base}/{name}") for name in files]


def openlineage_facets(inputs: list[Dataset], outputs: list[Dataset]) -> Any:
    """An ``OperatorLineage`` when the OpenLineage provider is installed, else None."""
    try:
        from airflow.providers.common.compat.openlineage.facet import Dataset as OLDataset
        from airflow.providers.openlineage.extractors import OperatorLineage
    except ImportError:
        return None
    return OperatorLineage(
        inputs=[OLDataset(namespace=ns, name=name) for ns, name in inputs],
        outputs=[OLDataset(namespace=ns, name=name) for ns, name in outputs],
    )


def manifest_lineage(
    base_url: str, endpoint: str, manifest: Mapping[str, Any]
) -> tuple[list[Dataset], list[Dataset]]:
    """(inputs, outputs) for a pull-style manifest: the API endpoint in, the part files out."""
    files = [part["name"] for part in manifest["parts"]]
    return [api_dataset(base_url, endpoint)], output_datasets(manifest["uri"], files)


def attach_to_outlets(
    context: Mapping[str, Any],
    outlets: Iterable[Any],
    manifest: Mapping[str, Any],
    keys: Iterable[str],
) -> None:
    """Put the manifest's summary ``keys`` on every outlet asset's event extra."""
    from airflow_provider_apisync.compat import Asset

    events = context.get("outlet_events")
    if events is None:
        return
    extra = {k: manifest[k] for k in keys if k in manifest}
    for outlet in outlets:
        if isinstance(outlet, Asset):
            events[outlet].extra.update(extra)
