"""torchvision state dicts in every accepted container give the same params."""

import sys

import jax
import numpy as np
import pytest
import torch

import jaxvis
from jaxvis.errors import ArchitectureMismatchError, WeightsFileError
from tests.reference import torch_nets


@pytest.fixture(scope="module")
def state_dict():
    return {k: v.numpy() for k, v in torch_nets.build("torchvision_alexnet", seed=7).state_dict().items()}


def _params(net):
    return {k: {n: np.asarray(a) for n, a in v.items()} for k, v in net.params.items()}


def test_pth_safetensors_npz_and_dataparallel_prefix_agree(state_dict, tmp_path):
    from safetensors.numpy import save_file

    torch.save({k: torch.from_numpy(v) for k, v in state_dict.items()}, tmp_path / "a.pth")
    save_file(state_dict, str(tmp_path / "a.safetensors"))
    np.savez(tmp_path / "a.npz", **state_dict)
    torch.save({"state_dict": {f"module.{k}": torch.from_numpy(v) for k, v in state_dict.items()}}, tmp_path / "b.pt")
    ref = _params(jaxvis.load_model("torchvision_alexnet", weights=tmp_path / "a.pth"))
    # The layout itself: conv OIHW -> HWIO; fc8 (out, in) -> (in, out).
    np.testing.assert_array_equal(ref["conv2"]["kernel"], state_dict["features.3.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(ref["fc8"]["kernel"], state_dict["classifier.6.weight"].T)
    for name in ("a.safetensors", "a.npz", "b.pt"):
        other = _params(jaxvis.load_model("torchvision_alexnet", weights=tmp_path / name))
        for layer in ref:
            for k in ("kernel", "bias"):
                np.testing.assert_array_equal(other[layer][k], ref[layer][k], err_msg=f"{name} {layer} {k}")


def test_missing_and_misshapen_keys(state_dict, tmp_path):
    partial = {k: v for k, v in state_dict.items() if not k.startswith("classifier.4")}
    np.savez(tmp_path / "partial.npz", **partial)
    with pytest.raises(ArchitectureMismatchError, match="fc7"):
        jaxvis.load_model("torchvision_alexnet", weights=tmp_path / "partial.npz")
    bad = dict(state_dict, **{"features.0.weight": np.zeros((64, 3, 7, 7), np.float32)})
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(ArchitectureMismatchError,
                       match=r"'conv1' weights has shape \(64, 3, 7, 7\), expected \(64, 3, 11, 11\)"):
        jaxvis.load_model("torchvision_alexnet", weights=tmp_path / "bad.npz")


def test_pth_loads_without_torch(state_dict, tmp_path, monkeypatch):
    torch.save({k: torch.from_numpy(v) for k, v in state_dict.items()}, tmp_path / "w.pth")
    with_torch = jaxvis.load_model("torchvision_alexnet", weights=tmp_path / "w.pth")
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    without = jaxvis.load_model("torchvision_alexnet", weights=tmp_path / "w.pth")
    for a, b in zip(jax.tree.leaves(with_torch.params), jax.tree.leaves(without.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_bad_state_dict_files(tmp_path):
    (tmp_path / "w.pth").write_bytes(b"\x00" * 100)
    with pytest.raises(WeightsFileError, match="w.pth"):
        jaxvis.load_model("torchvision_alexnet", weights=tmp_path / "w.pth")
    (tmp_path / "w.safetensors").write_bytes(b"\x05" * 20)
    with pytest.raises(WeightsFileError, match="w.safetensors"):
        jaxvis.load_model("torchvision_alexnet", weights=tmp_path / "w.safetensors")
    np.savez(tmp_path / "w.npz", x=np.zeros(3))
    with pytest.raises(WeightsFileError, match="takes Caffe weights"):
        jaxvis.load_model("caffenet", weights=tmp_path / "w.npz")
