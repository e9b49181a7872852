"""The scoring protocol as one frozen value: normaliser, alpha, failure rule and AUC rule.

The command line resolves it once (:func:`resolve_protocol`: the options given, else the
dataset's defaults, else the normaliser's) and hands it down, so every number of one command
is computed under the same rules and printed with them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import MetricInputError

#: Integration rules of AUC_alpha: the protocol's (Simpson) and the one other tools often use.
AUC_RULES = ("simpson", "trapezoid")
#: The protocol's alpha for eye-normalised errors on 300W.
ALPHA = 0.08


@dataclass(frozen=True)
class Protocol:
    """How errors are normalised and summarised.

    ``norm``: a registered normaliser's name; ``alpha``: the threshold of AUC_alpha and of the
    failure rate; ``inclusive_failure``: failure is error >= alpha (else > alpha, the default);
    ``auc_rule``: ``simpson`` (the protocol) or ``trapezoid``.

    >>> Protocol("inter-pupil", 0.1).failure_text
    'error > 0.1'
    """

    norm: str = "inter-ocular"
    alpha: float = ALPHA
    inclusive_failure: bool = False
    auc_rule: str = "simpson"

    def __post_init__(self):
        from . import normaliser

        normaliser(self.norm)                         # an unknown name fails here
        if self.auc_rule not in AUC_RULES:
            raise MetricInputError(f"unknown AUC rule {self.auc_rule!r}; choose one of {', '.join(AUC_RULES)}")
        if not 0 < float(self.alpha) <= 1:
            raise MetricInputError(f"alpha must be in (0, 1], got {self.alpha!r}")

    @property
    def normaliser(self):
        from . import normaliser

        return normaliser(self.norm)

    @property
    def failure_text(self) -> str:
        return f"error {'>=' if self.inclusive_failure else '>'} {self.alpha:g}"

    def describe(self) -> str:
        """``inter-ocular, AUC and failure at alpha = 0.1 (failure = error > 0.1)``."""
        return (f"{self.norm}, AUC and failure at alpha = {self.alpha:g} (failure = {self.failure_text}"
                + ("" if self.auc_rule == "simpson" else f"; AUC by the {self.auc_rule} rule") + ")")

    def as_dict(self) -> dict:
        return asdict(self)


def resolve_protocol(dataset=None, scheme=None, norm: str | None = None, alpha: float | None = None,
                     inclusive_failure: bool = False, auc_rule: str = "simpson") -> Protocol:
    """The protocol of one command: what was given, else the dataset's defaults (a
    :class:`~faceeval.protocol.DatasetSpec` or its name), else those of the standard dataset of
    ``scheme`` (WFLW for 98 points...), else inter-ocular at 0.08.

    >>> resolve_protocol("wflw")
    Protocol(norm='inter-ocular', alpha=0.1, inclusive_failure=False, auc_rule='simpson')
    >>> resolve_protocol("cofw", norm="inter-ocular").alpha
    0.1
    """
    from . import dataset_spec, default_dataset_for, normaliser

    spec = dataset_spec(dataset) if dataset is not None else (default_dataset_for(scheme) if scheme else None)
    chosen = norm or (spec.norm if spec is not None else "inter-ocular")
    if alpha is None:
        # without a dataset: faceeval's 0.08 for the three classic normalisers (as before), else the normaliser's own
        alpha = (spec.default_alpha if spec is not None
                 else ALPHA if chosen in ("inter-ocular", "inter-pupil", "bbox-diagonal") else normaliser(chosen).alpha)
    return Protocol(chosen, float(alpha), bool(inclusive_failure), auc_rule)


__all__ = ["Protocol", "resolve_protocol", "AUC_RULES", "ALPHA"]
