"""Multi-process code paths on CPU with the gloo backend and 2 processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DataLoader

from segtool.models import build_deeplabv3
from segtool.training import distributed
from segtool.training.engine import evaluate
from segtool.training.rundata import open_run_data
from segtool.training.transforms import EvalSamples, collate_list, epoch_order
from tests.helpers import make_dataset, tiny_config

REPO = Path(__file__).resolve().parents[2]
PRE = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "resize_short": 48}


def _score(data_dir: str, rank: int, world: int) -> dict:
    """Evaluate the same seeded model on this rank's share of the val images (as the trainer does)."""
    threads = torch.get_num_threads()
    try:
        return _score_one_thread(data_dir, rank, world)
    finally:
        torch.set_num_threads(threads)  # the pytest process goes on with its own setting


def _score_one_thread(data_dir: str, rank: int, world: int) -> dict:
    rd = open_run_data(tiny_config(Path(data_dir), Path("unused")))
    # One intra-op thread in every process, whatever the load: how a float32 convolution splits its sums
    # depends on the thread count, and the comparison below should not depend on the machine.
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_deeplabv3(backbone="resnet18", num_classes=2, aux_head=False)
    with torch.no_grad():
        # A random net predicts one class everywhere; amplify the head and centre its bias on a real val
        # image so that both classes occur (the matrix then says something).
        model.eval()
        model.classifier[4].weight.mul_(50)
        model.classifier[4].bias.zero_()
        rgb = torch.from_numpy(rd.val_data.load_image(rd.val[0])).permute(2, 0, 1)[None].float() / 255
        mean, std = torch.tensor(PRE["mean"]).view(1, 3, 1, 1), torch.tensor(PRE["std"]).view(1, 3, 1, 1)
        logits = model((rgb - mean) / std)["out"]
        model.classifier[4].bias[1] = -(logits[:, 1] - logits[:, 0]).median()
    mine = list(range(len(rd.val)))[rank::world]
    loader = DataLoader(EvalSamples(rd.val_data, rd.val), batch_size=2, sampler=mine, collate_fn=collate_list)
    r = evaluate(model, loader, torch.device("cpu"), num_classes=2, preprocess_cfg=PRE)
    return {"matrix": r.matrix.mat.tolist(), "loss": r.loss, "images": r.images, "mine": len(mine)}


def _worker(rank: int, world: int, init_file: str, data_dir: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        result = _score(data_dir, rank, world)
        assert distributed.current().world_size == world
        order = distributed.shard(epoch_order(5, 1, 0, 0), distributed.current(), batch_size=2)
        result["order"] = order
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()


def test_evaluate_reduces_across_two_gloo_processes(tmp_path):
    data = make_dataset(tmp_path / "data", n_train=1, n_val=3)  # 3 images: ranks get 2 and 1
    single = _score(str(data), 0, 1)
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(data), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert (r0["mine"], r1["mine"]) == (2, 1)  # each scored its own share …
    for r in (r0, r1):  # … and both report the whole set, equal to one process scoring everything
        assert r["matrix"] == single["matrix"]
        assert r["images"] == single["images"] == 3
        # The ranks batch the images differently from the single process ([0, 2] + [1] vs [0, 1] + [2]),
        # and a float32 convolution picks its blocking by batch size, so logits agree only to float32
        # rounding through 18 layers (seen: 2e-7 relative, ~2 ulp). The losses themselves are summed in
        # float64 (evaluate), so no summation order adds to that. 1e-4 is ~1000 float32 ulp: far above
        # rounding, far below what a rank scoring the wrong images changes (percents).
        assert r["loss"] == pytest.approx(single["loss"], rel=1e-4)
    assert np.asarray(single["matrix"]).sum() == 3 * 64 * 64
    assert np.asarray(single["matrix"])[:, 1].sum() > 0  # both classes predicted: the matrix says something
    # the epoch's batches are split into equal, disjoint, whole-step shares
    assert len(r0["order"]) == len(r1["order"]) == 2
    assert not set(r0["order"]) & set(r1["order"])


@pytest.mark.slow
def test_torchrun_two_processes_trains_and_agrees(tmp_path):
    """`torchrun --nproc_per_node 2 -m segtool train …` on CPU: DDP with gloo, rank 0 writes the run."""
    data = make_dataset(tmp_path / "data", n_train=4, n_val=2)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "segtool",
        "train",
        str(data),
        "-o",
        str(out),
        "--backbone",
        "resnet18",
        "--epochs",
        "1",
        "--batch-size",
        "1",
        "--crop-size",
        "64",
        "--eval-size",
        "64",
        "--device",
        "cpu",
        "--workers",
        "0",
        "-q",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "× 2 processes" in proc.stdout  # only rank 0 prints
    assert proc.stdout.count("epoch 1/1:") == 1
    last = torch.load(out / "last.pt", weights_only=True)
    assert last["train"]["world_size"] == 2
    assert last["resume"]["world_size"] == 2
    assert not any(k.startswith("module.") for k in last["state_dict"])  # saved unwrapped
    report = json.loads((out / "report.json").read_text())
    assert report["images"] == 2  # both val images, one per process, summed
    assert last["resume"]["history"][0]["epoch"] == 1
    # the confidence reference holds both ranks' validation images, as one process measures them
    from segtool.core.confidence import rescaled_mean
    from segtool.core.engine import Engine
    from segtool.core.sources import load_image

    engine = Engine(out / "last.pt", device="cpu", runtime="torch")
    values = [
        rescaled_mean(engine.predict_one(load_image(str(p)), confidence=True).confidence, 2)
        for p in sorted((data / "val" / "images").glob("*.png"))
    ]
    ref = last["confidence_reference"]
    assert ref["images"] == 2
    assert ref["mean"] == pytest.approx(float(np.mean(values)), abs=2e-4)
    assert ref["p10"] == pytest.approx(float(np.percentile(values, 10)), abs=2e-4)
