"""faceeval: benchmark face alignment (300W, WFLW, COFW, AFLW, Menpo), each benchmark by its own protocol."""
from .metrics import NORMALISATIONS, Summary, auc, ced, evaluate, failure_rate, normalisers, point_to_point_error, summarize

__version__ = "0.1.0"
__all__ = ["NORMALISATIONS", "Summary", "auc", "ced", "evaluate", "failure_rate", "normalisers",
           "point_to_point_error", "summarize", "__version__"]
