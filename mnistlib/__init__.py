"""mnistlib: the Fast MNIST book's own library — data, models, recipes, training."""
from mnistlib.augmentation import Augment, augment
from mnistlib.data import MNIST, DataError, Split, fetch, load, make_loader
from mnistlib.models import MODELS, count_parameters, create_model
from mnistlib.recipes import RECIPES, Recipe, get_recipe
from mnistlib.training import FitResult, fit

__all__ = ["Augment", "augment", "MNIST", "DataError", "Split", "fetch", "load", "make_loader",
           "MODELS", "count_parameters", "create_model", "RECIPES", "Recipe", "get_recipe",
           "FitResult", "fit"]
__version__ = "0.1.0"
