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
