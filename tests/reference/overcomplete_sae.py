"""overcomplete's ``TopKSAE`` (torch), the reference for jaxvis's TopK SAE.

Its package ``__init__`` imports plotting code that needs an older
matplotlib, so only the subpackage ``overcomplete.sae`` is imported: an
empty package module stands in for ``overcomplete`` itself."""

import importlib.util
import sys
import types


def topk_sae_class():
    """overcomplete's TopKSAE class; ImportError naming the install when overcomplete is missing."""
    spec = importlib.util.find_spec("overcomplete")
    if spec is None:
        raise ImportError("overcomplete is not installed (pip install -e '.[test]')")
    if "overcomplete" not in sys.modules:
        package = types.ModuleType("overcomplete")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["overcomplete"] = package
    from overcomplete.sae.topk_sae import TopKSAE

    return TopKSAE


def topk_sae(params: dict, k: int):
    """overcomplete's TopKSAE holding jaxvis SAE parameters ``params`` (numpy
    W_enc, b_enc, W_dec; it has no b_pre: feed it ``a - b_pre`` and add b_pre to
    its reconstruction)."""
    import numpy as np
    import torch

    d, latents = params["W_dec"].shape
    model = topk_sae_class()(d, latents, top_k=k)
    with torch.no_grad():
        model.encoder.final_block[0].weight.copy_(torch.from_numpy(np.array(params["W_enc"])))
        model.encoder.final_block[0].bias.copy_(torch.from_numpy(np.array(params["b_enc"])))
        model.dictionary._weights.copy_(torch.from_numpy(np.array(params["W_dec"]).T.copy()))
    return model
