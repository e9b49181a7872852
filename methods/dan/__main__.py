"""``python -m methods.dan [train options]``: the training command, e.g. under ``torchrun``::

    torchrun --nproc-per-node 2 -m methods.dan --data-root /data/300W --stages 2
"""
from .train import main

main()
