"""Turning S3 "object created" events into data arrivals that start pipeline runs."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event
from pydantic import BaseModel, ConfigDict

INCOMING_PREFIX = "incoming/"
DATA_SUFFIXES = (".parquet", ".csv")


class DataArrival(BaseModel):
    model_config = ConfigDict(frozen=True)

    bucket: str
    key: str
    version_id: str | None = None
    size: int | None = None
    etag: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def dedup_key(self) -> str:
        """Redelivered events for the same object version map to the same key."""
        return f"{self.bucket}/{self.key}#{self.version_id or self.etag or ''}"


def arrivals_from_s3_event(event: S3Event) -> list[DataArrival]:
    """Every new dataset object in ``event`` (other keys and folder markers are ignored)."""
    arrivals = []
    for record in event.records:
        key = unquote_plus(record.s3.get_object.key)
        if not key.startswith(INCOMING_PREFIX) or not key.lower().endswith(DATA_SUFFIXES):
            continue
        obj = record.s3.get_object
        arrivals.append(
            DataArrival(
                bucket=record.s3.bucket.name, key=key, version_id=obj.version_id, size=obj.size, etag=obj.etag
            )
        )
    return arrivals


class PinnedVersion:
    """An S3 client whose ``HeadObject`` asks for one object version, so ``load_dataset`` checks
    the size of, reads and fingerprints exactly the version an event announced."""

    def __init__(self, s3: Any, version_id: str) -> None:
        self._s3 = s3
        self._version_id = version_id

    def head_object(self, **kwargs: Any) -> Any:
        return self._s3.head_object(VersionId=self._version_id, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)
