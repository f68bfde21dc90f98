import gzip

import pytest
import torch

from mnistlib import data as mdata
from mnistlib.augmentation import Augment


def test_fetch_from_mirror_verifies_and_uses_torchvision_layout(fake_files):
    mirror, contents, root = fake_files
    raw = mdata.fetch(root, mirror, download=False)
    assert raw == root / "MNIST" / "raw"
    for name, content in contents.items():
        assert (raw / name).read_bytes() == content
    assert sorted(p.name for p in raw.iterdir()) == sorted(contents)  # no leftovers


def test_checksum_mismatch_names_the_file_and_leaves_nothing(fake_files):
    mirror, contents, root = fake_files
    bad = bytearray(contents["train-labels-idx1-ubyte"])
    bad[-1] ^= 1
    (mirror / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(bad)))
    with pytest.raises(mdata.DataError, match="train-labels-idx1-ubyte.gz.*SHA-256"):
        mdata.fetch(root, mirror, download=False)
    raw = root / "MNIST" / "raw"
    assert not (raw / "train-labels-idx1-ubyte").exists()
    assert not [p for p in raw.iterdir() if p.name.endswith(".part")]


def test_truncated_archive_is_a_clear_error(fake_files):
    mirror, _, root = fake_files
    path = mirror / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(mdata.DataError, match="t10k-images-idx3-ubyte.gz") as e:
        mdata.fetch(root, mirror, download=False)
    assert "\n" not in str(e.value)
    assert not (root / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists()


def test_corrupted_file_already_there_is_refused(fake_files):
    mirror, _, root = fake_files
    raw = mdata.fetch(root, mirror, download=False)
    target = raw / "train-images-idx3-ubyte"
    target.write_bytes(target.read_bytes()[:-10])  # truncated after the fact
    with pytest.raises(mdata.DataError, match="train-images-idx3-ubyte: SHA-256.*delete it"):
        mdata.load(root, mirror)


def test_missing_mirror_file_and_no_download(fake_files):
    mirror, _, root = fake_files
    (mirror / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(mdata.DataError, match="no train-images-idx3-ubyte.gz"):
        mdata.fetch(root, mirror, download=False)
    with pytest.raises(mdata.DataError, match="missing"):
        mdata.fetch(root / "elsewhere", None, download=False)


def test_stratified_split_is_disjoint_deterministic_and_proportional():
    g = torch.Generator().manual_seed(0)
    labels = torch.multinomial(torch.linspace(1, 2, 10), 6000, replacement=True, generator=g)
    tr, va = mdata.stratified_split(labels, 500, seed=7)
    assert len(va) == 500 and len(tr) == 5500
    assert not set(tr.tolist()) & set(va.tolist())
    assert torch.equal(torch.cat([tr, va]).sort().values, torch.arange(6000))
    share_all = torch.bincount(labels, minlength=10) / len(labels)
    share_val = torch.bincount(labels[va], minlength=10) / len(va)
    assert (share_all - share_val).abs().max() < 1.5 / 500
    tr2, va2 = mdata.stratified_split(labels, 500, seed=7)
    assert torch.equal(va, va2) and torch.equal(tr, tr2)
    assert not torch.equal(va, mdata.stratified_split(labels, 500, seed=8)[1])


def test_the_two_loaders_give_identical_batches(fake_files):
    mirror, _, root = fake_files
    d = mdata.load(root, mirror, val_size=20)
    assert (len(d.train), len(d.val), len(d.test)) == (100, 20, 40)
    for split in ("train", "val", "test"):
        for norm in mdata.NORMALIZATIONS:
            conv = mdata.make_loader("conventional", getattr(d, split), 16, "cpu", shuffle=False,
                                     normalization=norm)
            dev = mdata.make_loader("device", getattr(d, split), 16, "cpu", shuffle=False,
                                    normalization=norm)
            assert len(conv) == len(dev)
            for (xa, ya), (xb, yb) in zip(conv, dev):
                assert xa.shape == xb.shape == (len(ya), 1, 28, 28)
                assert torch.equal(ya, yb) and torch.equal(xa, xb)


def test_device_loader_reshuffles_each_epoch_and_covers_everything(tiny_mnist):
    loader = mdata.DeviceLoader(tiny_mnist.train, 64, "cpu", augmentation=Augment(), seed=1)
    epochs = [torch.cat([y for _, y in loader]) for _ in range(2)]
    assert len(epochs[0]) == 600
    assert not torch.equal(epochs[0], epochs[1])
    assert torch.equal(epochs[0].sort().values, tiny_mnist.train.labels.sort().values)


def test_normalization_modes():
    x = torch.tensor([[0, 255]], dtype=torch.uint8)
    assert torch.equal(mdata.normalize(x, "none"), torch.tensor([[0.0, 255.0]]))
    assert torch.equal(mdata.normalize(x, "unit"), torch.tensor([[0.0, 1.0]]))
    s = mdata.normalize(x, "standard")
    assert torch.allclose(s, (torch.tensor([[0.0, 1.0]]) - mdata.MEAN) / mdata.STD)
    with pytest.raises(ValueError):
        mdata.normalize(x, "zscore")


def test_read_idx_rejects_truncated(tmp_path):
    p = tmp_path / "x-ubyte"
    p.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))
    with pytest.raises(mdata.DataError, match="truncated"):
        mdata.read_idx(p)
