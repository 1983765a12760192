"""The base of every model that becomes part of the CRD schema.

Cross-field rules are declared once, as :class:`Rule`: the API server enforces the CEL
expression at admission, the operator enforces the Python predicate when it reads an object,
and the CRD generator copies the CEL into ``x-kubernetes-validations``. Keeping both halves in
one record is what stops them drifting apart. :class:`FieldRule` does the same for one field's
value; it replaces a schema ``pattern``, whose refusal echoes the raw regular expression back to
the user, with a message that says what the value should look like.

:class:`FieldRole` says, on a spec field itself, whether editing it changes the remote task or
only how the operator keeps it; the launch fingerprint, the CRD's descriptions and the README's
field reference all read it from there.
"""

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Generic, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

ModelT = TypeVar("ModelT", bound="CrdModel")


BEYOND_SCHEMA: Final = "beyond_schema"
"""The error type of a rule only the operator can check (it needs a parser the CRD lacks)."""


def beyond_schema(message: str) -> PydanticCustomError:
    """A refusal the CRD cannot make, so the API server admitted the spec without being stale."""
    return PydanticCustomError(BEYOND_SCHEMA, message)


class FieldRole(enum.Enum):
    """What editing a spec field does to a running task, as ``Annotated`` metadata on the field.

    Every field of a model that declares roles must carry exactly one (a test checks), so a new
    field cannot silently change the launch fingerprint of every running task.
    """

    LAUNCH = "launch"
    """It shapes the remote task: an edit stops the task and starts one from the new spec."""
    POLICY = "policy"
    """It steers the operator: an edit alone never replaces the running task."""

    @property
    def sentence(self) -> str:
        """What the role means for users, added to the field's CRD description."""
        if self is FieldRole.LAUNCH:
            return "Launch field: editing it replaces the running task with one from the new spec."
        return "Policy field: editing it alone never replaces the running task."


LAUNCH: Final = FieldRole.LAUNCH
POLICY: Final = FieldRole.POLICY


def field_roles(model: type["CrdModel"]) -> dict[str, FieldRole | None]:
    """Each field's role by its wire name (camelCase); None for a field that declares none."""
    roles: dict[str, FieldRole | None] = {}
    for name, info in model.model_fields.items():
        declared = [item for item in info.metadata if isinstance(item, FieldRole)]
        roles[info.alias or name] = declared[0] if len(declared) == 1 else None
    return roles


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


def cel_string(text: str) -> str:
    """``text`` as a CEL string literal (single-quoted, backslashes and quotes escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class FieldRule:
    """A rule on one field's value, as ``Annotated`` metadata: CEL on the field's own schema
    node for the API server, a predicate for pydantic, one message for both."""

    cel: str
    message: str
    holds: Callable[[Any], bool]

    @classmethod
    def full_match(cls, pattern: str, message: str) -> "FieldRule":
        """The whole value must match ``pattern`` (given without anchors).

        Python's ``re`` and CEL's ``matches`` (RE2) read a pattern alike as long as it uses
        explicit character classes: ``\\s``, ``\\w`` and ``\\d`` differ between them. The anchors
        are added here because ``$`` differs too: Python's also matches before a final newline.
        """
        compiled = re.compile(pattern)
        return cls(
            cel=f"self.matches({cel_string(f'^(?:{pattern})$')})",
            message=message,
            holds=lambda value: compiled.fullmatch(value) is not None,
        )

    @classmethod
    def free_of(cls, pattern: str, message: str) -> "FieldRule":
        """The value must contain no match of ``pattern``."""
        compiled = re.compile(pattern)
        return cls(
            cel=f"!self.matches({cel_string(pattern)})",
            message=message,
            holds=lambda value: compiled.search(value) is None,
        )

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = dict(handler(schema))
        rules = json_schema.get("x-kubernetes-validations", [])
        validation = {"rule": self.cel, "message": self.message}
        json_schema["x-kubernetes-validations"] = [*rules, validation]
        return json_schema

    def _check(self, value: Any) -> Any:
        if not self.holds(value):
            raise ValueError(self.message)
        return value


def _add_crd_extras(schema: dict[str, Any], model: type[Any]) -> None:
    """The model's cross-field rules as CEL, and each field's role in its description."""
    rules: tuple[Rule[Any], ...] = getattr(model, "cross_field_rules", ())
    if rules:
        schema["x-kubernetes-validations"] = [rule.as_validation() for rule in rules]
    if getattr(model, "declares_roles", False):
        for wire_name, role in field_roles(model).items():
            field_schema = schema["properties"][wire_name]
            if role is not None:
                described = field_schema.get("description", "")
                field_schema["description"] = f"{described} {role.sentence}".strip()


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
        json_schema_extra=_add_crd_extras,
    )

    cross_field_rules: ClassVar[tuple[Rule[Any], ...]] = ()
    declares_roles: ClassVar[bool] = False
    """Every field carries a :class:`FieldRole` (the spec's top level)."""

    @model_validator(mode="after")
    def _check_cross_field_rules(self) -> Self:
        for rule in type(self).cross_field_rules:
            if not rule.holds(self):
                raise ValueError(rule.message)
        return self

    def to_wire(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase keys, unset optionals omitted."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
