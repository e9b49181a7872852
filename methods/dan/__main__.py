"""``python -m faceeval_methods.dan [train options]``: the training command, e.g. under ``torchrun``::

    torchrun --nproc-per-node 2 -m faceeval_methods.dan --data-root /data/300W --stages 2

It goes through the ``faceeval`` command group, so errors read as in ``faceeval train dan``.
"""
import sys

from faceeval.plugin import faceeval_main

faceeval_main(["train", "dan", *sys.argv[1:]])
