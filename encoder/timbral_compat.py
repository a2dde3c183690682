"""Run `timbral_models` 0.4.0 unchanged on numpy 2 and librosa >= 0.10.

timbral_models was written for numpy 1 and librosa < 0.10: it calls
`np.lib.pad`, may use the removed aliases `np.float`/`np.int`, and passes
librosa arguments positionally where librosa now wants keywords.  Rather than
patching numpy or librosa for the whole process, this module gives each
timbral_models module its own `np` and `librosa` names: thin proxies that
forward everything and add only what the old code needs.
"""
from __future__ import annotations

import importlib
import types
from functools import lru_cache

import numpy


class _NumpyProxy(types.ModuleType):
    """numpy with the numpy-1 names timbral_models uses."""

    _ALIASES = {"float": float, "int": int, "complex": complex, "bool": bool, "object": object}

    def __init__(self) -> None:
        super().__init__("numpy")
        self.lib = types.SimpleNamespace(pad=numpy.pad, stride_tricks=numpy.lib.stride_tricks)

    def __getattr__(self, name: str):
        if name in self._ALIASES:
            return self._ALIASES[name]
        return getattr(numpy, name)


def _librosa_proxy():
    import librosa

    def onset_strength(y=None, sr=22050, *args, **kwargs):
        return librosa.onset.onset_strength(y=y, sr=sr, *args, **kwargs)

    def onset_detect(y=None, sr=22050, *args, **kwargs):
        return librosa.onset.onset_detect(y=y, sr=sr, *args, **kwargs)

    def resample(y, orig_sr, target_sr, **kwargs):
        return librosa.resample(y, orig_sr=orig_sr, target_sr=target_sr, **kwargs)

    onset = types.SimpleNamespace(onset_strength=onset_strength, onset_detect=onset_detect)
    core = types.SimpleNamespace(resample=resample, stft=librosa.stft, istft=librosa.istft)
    proxy = types.SimpleNamespace(onset=onset, core=core, resample=resample,
                                  decompose=librosa.decompose, stft=librosa.stft, istft=librosa.istft)
    return proxy


_MODULES = ("timbral_util", "Timbral_Hardness", "Timbral_Depth", "Timbral_Brightness", "Timbral_Roughness",
            "Timbral_Warmth", "Timbral_Sharpness", "Timbral_Booming", "Timbral_Reverb", "Timbral_Extractor")


@lru_cache(maxsize=1)
def timbral_models():
    """Import timbral_models with the compatibility proxies installed; returns the package."""
    try:
        package = importlib.import_module("timbral_models")
    except ImportError as exc:
        raise ImportError(
            "the reference labeller needs timbral_models 0.4.0: "
            "pip install --no-deps timbral_models==0.4.0 (and the [train] extra)") from exc
    np_proxy = _NumpyProxy()
    lr_proxy = _librosa_proxy()
    for name in _MODULES:
        module = importlib.import_module(f"timbral_models.{name}")
        if hasattr(module, "np"):
            module.np = np_proxy
        if hasattr(module, "librosa"):
            module.librosa = lr_proxy
    return package
