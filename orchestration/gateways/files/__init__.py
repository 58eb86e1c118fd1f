"""The files dialect: console exports (CSV / XLSX / JSON) read from a folder; no other dialect imports it."""

from orchestration.gateways.files.client import FilesClient

__all__ = ["FilesClient"]
