"""The base of every model that becomes part of the CRD schema.

Cross-field rules are declared once, as :class:`Rule`: the API server enforces the CEL
expression at admission, the operator enforces the Python predicate when it reads an object,
and the CRD generator copies the CEL into ``x-kubernetes-validations``. Keeping both halves in
one record is what stops them drifting apart.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel

ModelT = TypeVar("ModelT", bound="CrdModel")


@dataclass(frozen=True)
class Rule(Generic[ModelT]):
    """A cross-field rule: CEL for the API server, a predicate for Python, one message."""

    cel: str
    message: str
    holds: Callable[[ModelT], bool]
    field_path: str | None = None

    def as_validation(self) -> dict[str, str]:
        """The rule as one item of ``x-kubernetes-validations``."""
        validation = {"rule": self.cel, "message": self.message}
        if self.field_path is not None:
            validation["fieldPath"] = self.field_path
        return validation


def _add_cross_field_rules(schema: dict[str, Any], model: type[Any]) -> None:
    rules: tuple[Rule[Any], ...] = getattr(model, "cross_field_rules", ())
    if rules:
        schema["x-kubernetes-validations"] = [rule.as_validation() for rule in rules]


class CrdModel(BaseModel):
    """camelCase on the wire, snake_case in Python, field docstrings as schema descriptions.

    Unknown keys are ignored rather than refused: the API server prunes and rejects them at
    admission already, and an operator one release behind must still read newer objects.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
        frozen=True,
        extra="ignore",
        json_schema_extra=_add_cross_field_rules,
    )

    cross_field_rules: ClassVar[tuple[Rule[Any], ...]] = ()

    @model_validator(mode="after")
    def _check_cross_field_rules(self) -> Self:
        for rule in type(self).cross_field_rules:
            if not rule.holds(self):
                raise ValueError(rule.message)
        return self

    def to_wire(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase keys, unset optionals omitted."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
