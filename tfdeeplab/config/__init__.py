"""Recipes: YAML files loaded into typed, frozen configuration objects."""

from tfdeeplab.config.loader import (
    RecipeError,
    find_recipe,
    load_recipe,
    parse_override,
    recipe_to_dict,
    save_recipe,
)
from tfdeeplab.config.schema import (
    SCHEDULE_FAMILIES,
    CrfConfig,
    DataConfig,
    EvalConfig,
    ModelConfig,
    Recipe,
    ScheduleConfig,
    SchemaError,
    TrainConfig,
)

__all__ = [
    "SCHEDULE_FAMILIES",
    "CrfConfig",
    "DataConfig",
    "EvalConfig",
    "ModelConfig",
    "Recipe",
    "RecipeError",
    "ScheduleConfig",
    "SchemaError",
    "TrainConfig",
    "find_recipe",
    "load_recipe",
    "parse_override",
    "recipe_to_dict",
    "save_recipe",
]
