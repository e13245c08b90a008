"""The FlushRisk model: a calibrated LightGBM booster with its features, label spec and metadata.

Only :class:`FlushModel` is imported here, so that serving's ``from models import FlushModel``
stays light; training-time helpers live in ``models.lgbm``, ``models.baselines`` and
``models.calibration``.
"""

from models.flush_model import FlushModel

__all__ = ["FlushModel"]
