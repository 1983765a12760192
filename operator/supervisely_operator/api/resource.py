"""Names of the SuperviselyTask resource, in one place so the CRD, operator and tests agree."""

from typing import Final

GROUP: Final = "supervisely.com"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "SuperviselyTask"
LIST_KIND: Final = "SuperviselyTaskList"
PLURAL: Final = "superviselytasks"
SINGULAR: Final = "superviselytask"
SHORT_NAMES: Final = ("slytask",)
CATEGORIES: Final = ("supervisely",)
CRD_NAME: Final = f"{PLURAL}.{GROUP}"
