"""Assembled models: HierTCN, the neural and simple baselines, and the `Recommender` wrapper.

Importing this package registers every custom Keras object of the project (layers, losses'
sampler, models) under the package name `"hiertcn"`, so that `.keras` files load with plain
`keras.models.load_model`.
"""

from hiertcn_keras.models.config import ModelConfig
from hiertcn_keras.models.recommender import OutputItems, Recommender, build_recommender
from hiertcn_keras.models.user_models import BUILDERS, build_user_model

__all__ = ["BUILDERS", "ModelConfig", "OutputItems", "Recommender", "build_recommender", "build_user_model"]
