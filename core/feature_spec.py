"""The feature store's part of a tenant spec: feature views, their entities, features and freshness.

A feature view is a table of feature values keyed by one or more entity columns and stamped with
the time each value became true (the event timestamp). Raw rows land under
``features/<view>/`` in the tenant's data bucket; the offline store keeps every row (Parquet on S3,
catalogued in Glue), the online store keeps the latest row per entity within the view's TTL
(DynamoDB). A model names the views it uses: its training set is joined from them point in time,
and at serving time a request may carry only the entity keys.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator, model_validator

from core.spec_base import SpecModel

#: a view, entity or feature name: a Glue/Athena column name and a Python identifier at once
#: (Glue lower-cases column names, so upper case would not survive the catalog)
COLUMN_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
ColumnName = Annotated[str, StringConstraints(pattern=COLUMN_PATTERN)]

#: columns the platform adds to offline rows and online items; no view may declare them
RESERVED_COLUMNS = frozenset({"event_date", "ingested_at", "expires_at", "pk"})

#: Glue, Athena and Feast alike cap a view far below DynamoDB's 400 KB item; 200 keeps an item small
MAX_FEATURES_PER_VIEW = 200
MAX_VIEWS = 20
MAX_ENTITIES = 5


class FeatureType(StrEnum):
    INT64 = "int64"
    FLOAT64 = "float64"
    STRING = "string"
    BOOL = "bool"


_PYTHON_TYPES: dict[FeatureType, tuple[type, ...]] = {
    FeatureType.INT64: (int,),
    FeatureType.FLOAT64: (int, float),
    FeatureType.STRING: (str,),
    FeatureType.BOOL: (bool,),
}


class EntitySpec(SpecModel):
    """A key column of a view (a customer id, a merchant id)."""

    name: ColumnName
    type: FeatureType = FeatureType.STRING

    @field_validator("type")
    @classmethod
    def _keyable(cls, value: FeatureType) -> FeatureType:
        if value not in (FeatureType.STRING, FeatureType.INT64):
            raise ValueError("must be string or int64: an entity key is matched exactly")
        return value


class FeatureSpec(SpecModel):
    """One feature of a view; ``default`` is what serving uses for an entity with no live row
    (without one, such a request is refused with 404 naming the entity)."""

    name: ColumnName
    type: FeatureType
    default: bool | int | float | str | None = Field(default=None, validate_default=True)

    @field_validator("default")
    @classmethod
    def _default_fits_type(cls, value: Any, info: Any) -> Any:
        kind = info.data.get("type")
        if value is None or kind is None:
            return value
        fits = isinstance(value, _PYTHON_TYPES[kind]) and not (
            isinstance(value, bool) and kind is not FeatureType.BOOL
        )
        if not fits:
            raise ValueError(f"{value!r} is not a {kind.value} value")
        return value


class FeatureViewSpec(SpecModel):
    name: ColumnName
    entities: list[EntitySpec] = Field(min_length=1, max_length=MAX_ENTITIES)
    features: list[FeatureSpec] = Field(min_length=1, max_length=MAX_FEATURES_PER_VIEW)
    #: the column holding when each row's values became true (time-zone aware)
    timestamp: ColumnName = "event_timestamp"
    #: optional: when a row was written; of two rows for one entity and event time, the later wins
    created_timestamp: ColumnName | None = None
    #: how long a value stays valid after its event time, offline (joins) and online (lookups)
    ttl_hours: int = Field(default=24 * 30, ge=1, le=24 * 3650)
    #: alarm when the newest online row of the view is older than this
    freshness_alarm_minutes: int | None = Field(default=None, ge=5, le=7 * 24 * 60)

    @model_validator(mode="after")
    def _columns_distinct(self) -> FeatureViewSpec:
        columns = [e.name for e in self.entities] + [f.name for f in self.features] + [self.timestamp]
        if self.created_timestamp is not None:
            columns.append(self.created_timestamp)
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if repeated:
            raise ValueError(f"view {self.name!r} names column(s) {', '.join(repeated)} more than once")
        reserved = sorted(set(columns) & RESERVED_COLUMNS)
        if reserved:
            raise ValueError(
                f"view {self.name!r} uses reserved column name(s) {', '.join(reserved)} (the platform adds them)"
            )
        return self

    @property
    def entity_names(self) -> list[str]:
        return [e.name for e in self.entities]

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]


class FeaturesSpec(SpecModel):
    """``features:`` in a tenant spec."""

    views: list[FeatureViewSpec] = Field(default_factory=list, max_length=MAX_VIEWS)
    #: the scheduled materialization (offline -> online), besides the one after each landed file
    materialize_every_minutes: int = Field(default=60, ge=5, le=24 * 60)

    @field_validator("views")
    @classmethod
    def _unique_names(cls, views: list[FeatureViewSpec]) -> list[FeatureViewSpec]:
        names = [v.name for v in views]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"declares view(s) {', '.join(repeated)} more than once")
        return views

    def view(self, name: str) -> FeatureViewSpec:
        for view in self.views:
            if view.name == name:
                return view
        raise KeyError(name)


def model_views_problem(model_views: list[str], views: list[FeatureViewSpec]) -> str | None:
    """Why ``model.feature_views`` does not fit ``features.views``, or None."""
    declared = {v.name: v for v in views}
    unknown = [n for n in model_views if n not in declared]
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        return f"names view(s) {', '.join(unknown)} that features.views does not declare (declared: {known})"
    seen: dict[str, str] = {}
    for name in model_views:
        for feature in declared[name].feature_names:
            if feature in seen and seen[feature] != name:
                return (
                    f"views {seen[feature]} and {name} both have a feature {feature!r}: "
                    "a model's features must have distinct names"
                )
            seen[feature] = name
    return None


__all__ = [
    "COLUMN_PATTERN",
    "RESERVED_COLUMNS",
    "EntitySpec",
    "FeatureSpec",
    "FeatureType",
    "FeatureViewSpec",
    "FeaturesSpec",
    "model_views_problem",
]
