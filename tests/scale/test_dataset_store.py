"""Whole-dataset jobs in this process: the table's columns are the evaluation functions' per-image answers, the
Parquet and .npy files round-trip, a partition that fails resumes without recomputing the finished ones, other
folders are refused, cancel stops between partitions."""
import json
import os
import sys

import numpy as np
import pytest
import torch

from explorer import dataset as ds
from explorer.engines import EngineError
from explorer.jobs import Cancelled
from explorer.saliency.evaluation import complexity, deletion_insertion, energy, pointing_game, sparseness
from explorer.saliency.methods import make_method

if os.environ.get("CI") != "true":  # CI installs the test extras: there a missing pyarrow fails
    pytest.importorskip("pyarrow")
SETTINGS = dict(method="Grad-CAM", steps=8)


@pytest.fixture(scope="module")
def done(small_set, small_cnn, tmp_path_factory):
    """The uninterrupted local run (partitions of 24) and what load() reads back."""
    out = tmp_path_factory.mktemp("local") / "saliency"
    counts = ds.run_saliency(small_cnn, small_set, out, size=24, **SETTINGS)
    return out, counts, ds.load(out)


def test_columns_are_the_evaluation_functions_per_image(small_set, small_cnn, done, unchanged):
    out, counts, (table, arrays) = done
    assert counts == {"computed": [0, 1, 2, 3], "skipped": [], "partitions": 4}
    assert list(table["index"]) == list(range(96)) and arrays["maps"].shape == (96, 8, 8)
    x, y = small_set.inputs("test"), small_set.labels("test")
    np.testing.assert_array_equal(table["label"], y.numpy())
    with unchanged(small_cnn):
        for lo in (0, 48):  # partitions 0 and 2, computed directly
            xb = x[lo:lo + 24]
            pred = small_cnn(xb).argmax(1)
            maps = make_method("Grad-CAM")(small_cnn, xb, pred)
            curves = deletion_insertion(small_cnn, xb, maps, pred, steps=8)
            rows = table.iloc[lo:lo + 24]
            np.testing.assert_array_equal(rows["prediction"], pred.numpy())
            np.testing.assert_array_equal(arrays["maps"][lo:lo + 24], maps.detach().numpy())
            np.testing.assert_array_equal(rows["deletion_auc"], curves["deletion_auc"].numpy())
            np.testing.assert_array_equal(rows["insertion_auc"], curves["insertion_auc"].numpy())
            np.testing.assert_allclose(rows["sparseness"], sparseness(maps).numpy(), rtol=1e-6)  # batch max is 1
            np.testing.assert_allclose(rows["complexity"], complexity(maps).numpy(), rtol=1e-6)


def test_parquet_and_npy_files_round_trip(done):
    import pandas as pd

    out, _, (table, arrays) = done
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["done"] == [0, 1, 2, 3] and manifest["partitions"] == [[0, 24], [24, 48], [48, 72], [72, 96]]
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"] + [
        f"part-0000{i}.{w}" for i in range(4) for w in ("maps.npy", "parquet")]
    part = pd.read_parquet(out / "part-00002.parquet")  # any Parquet reader opens one partition alone
    pd.testing.assert_frame_equal(part, table.iloc[48:72].reset_index(drop=True))
    assert part["deletion_auc"].dtype == np.float32 and part["index"].dtype == np.int64
    np.testing.assert_array_equal(np.load(out / "part-00001.maps.npy"), arrays["maps"][24:48])


def test_masks_give_pointing_and_energy(tmp_path):
    import dataclasses

    from explorer.data import block_digits
    from explorer.models import SmallCNN

    torch.manual_seed(0)
    model = SmallCNN(1, 10, width=4).eval()
    blocks = block_digits()
    masks = blocks.masks["test"][:16]
    small = dataclasses.replace(blocks, x={"test": blocks.x["test"][:16]}, y={"test": blocks.y["test"][:16]},
                                masks={"test": masks})
    ds.run_saliency(model, small.inputs("test"), tmp_path / "t", size=8, steps=4)  # inputs alone: no masks
    assert "energy" not in ds.load(tmp_path / "t")[0]
    ds.run_saliency(model, small, tmp_path / "m", size=8, steps=4)
    table, arrays = ds.load(tmp_path / "m")
    maps = torch.from_numpy(arrays["maps"])
    np.testing.assert_array_equal(table["pointing"], pointing_game(maps, masks).numpy())
    np.testing.assert_array_equal(table["energy"], energy(maps, masks).numpy())
    assert table["pointing"].dtype == bool


def test_a_failed_partition_resumes_from_the_finished_ones(small_set, small_cnn, done, tmp_path):
    out = tmp_path / "resumed"
    calls, failed = [], []

    def fails_once(work, item):
        calls.append(item[0])
        if item[0] == 2 and not failed:
            failed.append(item[0])
            raise RuntimeError("worker lost")
        return ds.saliency.saliency_part(work, item)

    rows = ds.rows(small_set)
    spec = ds.saliency_spec(**SETTINGS)
    args = (ds.Work(small_cnn, rows, spec), out, "key-1", {"kind": "saliency", "files": ["table", "maps"]})
    with pytest.raises(EngineError, match=r"RuntimeError: worker lost.*2 of 4 partitions are written in"):
        ds.run_partitions("sequential", fails_once, *args, size=24)
    with pytest.raises(ValueError, match=r"unfinished: partitions \[2, 3\] of 4 are missing"):
        ds.load(out)
    assert len(ds.load(out, partial=True)[0]) == 48  # the finished partitions are usable as they are
    calls.clear()
    again = ds.run_partitions("sequential", fails_once, *args, size=24)
    assert again == {"computed": [2, 3], "skipped": [0, 1], "partitions": 4} and calls == [2, 3]
    table, arrays = ds.load(out)
    ref_table, ref_arrays = done[2]
    assert table.equals(ref_table)
    np.testing.assert_array_equal(arrays["maps"], ref_arrays["maps"])


def test_a_folder_with_other_files_is_refused(small_set, small_cnn, done, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"holds 1 other files \(notes.txt\).*overwrite=True"):
        ds.run_saliency(small_cnn, small_set, tmp_path, size=48, **SETTINGS)
    with pytest.raises(FileExistsError, match=r"holds the manifest of another job \(saliency, key"):
        ds.run_saliency(small_cnn, small_set, done[0], size=48, **SETTINGS)  # another size: another job
    ds.run_saliency(small_cnn, small_set, tmp_path, size=48, overwrite=True, **SETTINGS)
    assert (tmp_path / "notes.txt").read_text() == "mine" and len(ds.load(tmp_path)[0]) == 96
    assert ds.run_saliency(small_cnn, small_set, done[0], size=24, **SETTINGS)["computed"] == []  # same job: resumed


def test_cancel_stops_after_a_partition_and_the_job_resumes(small_set, small_cnn, tmp_path):
    def cancel_after_one(done_, total, info):
        if done_ == 1:
            raise Cancelled("stop")
    job = ds.saliency_job(small_cnn, small_set, tmp_path / "j", size=48, **SETTINGS)
    with pytest.raises(Cancelled):
        job.run(cancel_after_one)
    assert ds.read_manifest(tmp_path / "j")["done"] == [0]
    seen = []
    result = job.run(lambda d, t, i: seen.append((d, t)))
    assert result["run"]["computed"] == [1] and seen == [(1, 2), (2, 2)] and len(result["table"]) == 96


def test_codes_job_reads_back_the_local_codes(small_set, small_cnn, tmp_path):
    from explorer.codes import activation_codes

    result = ds.codes_job(small_cnn, small_set, tmp_path, size=40).run()
    assert result["run"]["partitions"] == 3
    whole = activation_codes(small_cnn, small_set.inputs("test"))
    np.testing.assert_array_equal(result["codes"].packed, whole.packed)
    assert result["codes"].parts == whole.parts and result["codes"].n_bits == whole.n_bits
    a = ds.analyse_codes(result["codes"], result["table"]["label"], k=3, n_clusters=4, seed=0, chunk=32)
    b = ds.analyse_codes(whole, small_set.labels("test").numpy(), k=3, n_clusters=4, seed=0, chunk=32)
    assert a["knn_accuracy"] == b["knn_accuracy"]
    np.testing.assert_array_equal(a["clusters"], b["clusters"])


def test_a_torch_dataset_gives_the_tensors_result(small_set, small_cnn, tmp_path):
    x, y = small_set.inputs("test")[:30], small_set.labels("test")[:30]
    ds.run_codes(small_cnn, torch.utils.data.TensorDataset(x, y), tmp_path / "d", size=16)
    ds.run_codes(small_cnn, x, tmp_path / "t", size=16)
    (td, cd), (tt, ct) = ds.load_codes(tmp_path / "d"), ds.load_codes(tmp_path / "t")
    np.testing.assert_array_equal(cd.packed, ct.packed)
    assert list(td["label"]) == y.tolist() and list(tt["label"]) == [-1] * 30


def test_batchnorm_models_and_an_inputs_labels_pair(small_set, tmp_path):
    """A model with BatchNorm (a 0-d num_batches_tracked buffer) gets a key, and (x, y) is inputs and labels, not a
    dataset of two items: both failed before."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(256, 10)).eval()
    x, y = small_set.inputs("test")[:20], small_set.labels("test")[:20]
    a = ds.fingerprint(net)
    net[1].num_batches_tracked += 1
    assert ds.fingerprint(net) != a  # the 0-d buffer's value is in the key
    ds.run_codes(net, (x, y), tmp_path / "p", size=8)
    ds.run_codes(net, x, tmp_path / "x", size=8)
    (tp, cp), (_, cx) = ds.load_codes(tmp_path / "p"), ds.load_codes(tmp_path / "x")
    np.testing.assert_array_equal(cp.packed, cx.packed)
    assert len(tp) == 20 and list(tp["label"]) == y.tolist()


def test_bad_input_is_named(small_cnn, tmp_path, monkeypatch):
    x = torch.zeros(4, 1, 8, 8)
    with pytest.raises(ValueError, match="NaN or inf"):
        ds.run_codes(small_cnn, x.clone().fill_(float("nan")), tmp_path / "a")
    with pytest.raises(ValueError, match="baseline must be 'blur' or a number"):
        ds.run_saliency(small_cnn, x, tmp_path / "b", baseline="mean")
    with pytest.raises(KeyError, match="unknown saliency method 'Grad'"):
        ds.saliency_job(small_cnn, x, tmp_path / "c", method="Grad")
    with pytest.raises(FileExistsError, match="is a file, not a folder"):
        (tmp_path / "f").write_text("")
        ds.run_codes(small_cnn, x, tmp_path / "f")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"pip install 'explorer\[scale\]'"):
        ds.run_codes(small_cnn, x, tmp_path / "g")


def test_cka_over_partitions_is_minibatch_cka(small_set, small_cnn, tmp_path):
    from explorer.dataset.saliency import torch_threads
    from explorer.geometry.minibatch import minibatch_cka

    x = small_set.inputs("test")[:90]  # 90 = 2 partitions of 32 and one of 26: a short last batch of 10 dropped
    ds.run_cka(small_cnn, x, tmp_path, batch=16, size=32)
    got = ds.load_cka(tmp_path)
    with torch_threads(1):
        want = minibatch_cka(small_cnn, x, batch=16)
    np.testing.assert_array_equal(got.values, want.values)
    assert got.rows == want.rows and got.debiased
    with pytest.raises(ValueError, match=r"partition size \(30\) must be a multiple of the minibatch \(16"):
        ds.run_cka(small_cnn, x, tmp_path / "b", batch=16, size=30)
