"""The public API of faceeval for plugins: everything a method, dataset, scheme or normaliser package imports.

A plugin imports from here only, never from :mod:`faceeval.cli` or :mod:`faceeval.report`
(``tests/test_plugin_api.py`` checks the plugins in ``methods/``). What it offers:

* methods: :class:`LandmarkMethod`, :class:`MethodOption`, :func:`load_method`, :func:`method_class`,
  :func:`file_hash`, :func:`default_weights_dir`, :func:`faceeval_home`;
* the protocol layer: :class:`Scheme`, :class:`Normaliser`, :class:`DatasetSpec`, :class:`Protocol`
  and their look-ups (:func:`scheme`, :func:`normaliser`, :func:`dataset_spec`, :func:`resolve_protocol`);
* data: :class:`Dataset`, :class:`Sample`, :func:`load_dataset`, :func:`dataset_names`;
* errors: the :mod:`faceeval.errors` hierarchy, :func:`require_extra` for a method's optional extra, and
  :data:`DATA_ROOT_PLACEHOLDER` for the data root in a hint (the command line puts in the one given);
* face detection for ``faceeval predict`` (:mod:`faceeval.detect`: dlib detections and box mapping);
* I/O: atomic writes, JSON, ``.npz``, ``.pts``, images, menpo interop;
* geometry (:mod:`faceeval.geometry` as ``geometry``, and its functions by name), the DAN mean shape,
  metrics and statistics, the run store (:func:`load_run`, :func:`find_runs`);
* command-line pieces for plugin commands: :func:`data_root_option`, :data:`DATA_ROOT`,
  :func:`load_dataset_reporting_gaps`, :class:`RegisteredChoice`; :func:`machine` for timings.

>>> from faceeval.plugin import LandmarkMethod, Scheme, point_to_point_error
>>> LandmarkMethod.scheme
'ibug68'
"""
from __future__ import annotations

from . import geometry
from .geometry import (TRAIN_ROTATION_SIGMA_DEG, TRAIN_SCALE_SIGMA, TRAIN_TRANSLATION_SIGMA, apply_affine, crop_window,
                       estimate_similarity, fit_shape_to_boxes, invert_affine, shape_boxes, similarity_matrix,
                       warp_image)
from .datasets import DATASETS, Dataset, Sample, dataset_names, load_dataset
from .detect import BoxMapping, dlib_detections, find_model_file, matching_detection
from .errors import (DATA_ROOT_PLACEHOLDER, DataError, FaceevalError, MetricInputError, MissingDependencyError,
                     MissingExtraError, MissingWeightsError, OptionError, require_extra)
from .io import (atomic_write, image_from_menpo, load_image, open_npz, read_json, read_json_object, read_pts,
                 replace_marked_block, save_npz, shape_from_menpo, shape_to_menpo, to_gray, write_json, write_pts)
from .landmarks import EYE_A, EYE_B, MIRROR_PERMUTATION, mirror_shapes
from .machine import machine
from .methods import (LandmarkMethod, MethodOption, MethodWarning, default_weights_dir, faceeval_home, file_hash,
                      load_method, method_class)
from .metrics import ALPHA, auc, evaluate, failure_rate, point_to_point_error, score, summarize
from .options import (DATA_ROOT, RegisteredChoice, data_root_option, load_dataset_reporting_gaps,
                      reporting_data_warnings)
from .protocol import (DatasetSpec, Normaliser, Protocol, Scheme, dataset_spec, normaliser, resolve_protocol,
                       scheme)
from .resources import dan_mean_shape
from .runs import find_runs, is_finished_run, load_run
from .stats import Bootstrap, paired_comparison
from .twostep import two_step_predict


def faceeval_main(args: list[str]) -> None:
    """Run the ``faceeval`` command line with ``args`` (for a plugin's ``python -m`` entry), so its
    errors read as in ``faceeval`` itself."""
    from .cli import main

    main(args=list(args), prog_name="faceeval")


__all__ = ["geometry", "TRAIN_ROTATION_SIGMA_DEG", "TRAIN_SCALE_SIGMA", "TRAIN_TRANSLATION_SIGMA", "apply_affine",
           "crop_window", "estimate_similarity", "fit_shape_to_boxes", "invert_affine", "shape_boxes",
           "similarity_matrix", "warp_image", "find_runs", "is_finished_run", "load_run", "EYE_A", "EYE_B", "faceeval_main", "DATASETS", "Dataset", "Sample", "dataset_names", "load_dataset", "DATA_ROOT_PLACEHOLDER", "DataError", "FaceevalError",
           "MetricInputError", "MissingDependencyError", "MissingExtraError", "MissingWeightsError", "OptionError",
           "require_extra", "BoxMapping", "dlib_detections", "find_model_file", "matching_detection", "atomic_write",
           "image_from_menpo", "load_image", "open_npz", "read_json", "read_json_object", "read_pts",
           "replace_marked_block", "save_npz", "shape_from_menpo", "shape_to_menpo", "to_gray", "write_json",
           "write_pts", "MIRROR_PERMUTATION", "mirror_shapes", "machine", "LandmarkMethod", "MethodOption", "MethodWarning",
           "default_weights_dir", "faceeval_home", "file_hash", "load_method", "method_class", "ALPHA", "auc", "failure_rate", "summarize", "evaluate",
           "point_to_point_error", "score", "DATA_ROOT", "RegisteredChoice", "data_root_option",
           "load_dataset_reporting_gaps", "reporting_data_warnings", "DatasetSpec", "Normaliser", "Protocol", "Scheme", "dataset_spec",
           "normaliser", "resolve_protocol", "scheme", "dan_mean_shape", "Bootstrap", "paired_comparison",
           "two_step_predict"]
