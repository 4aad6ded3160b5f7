"""K-Means purity of one network's codes clustered three ways (test, train, 2,000 of train): RESULTS_codes.md 3.2.

Run: PYTHONPATH=. python benchmarks/kmeans_candidates.py ../shared/data/mnist-10k
"""
import sys

import numpy as np
import torch

from explorer import MLP, Session, load_dataset
from explorer.codes import kmeans_scores, session_codes

data = load_dataset("mnist", root=sys.argv[1] if len(sys.argv) > 1 else "../shared/data/mnist-10k")
for width in (20, 100):
    torch.manual_seed(0)
    s = Session(MLP(data.shape, width=width, depth=1, n_classes=10, batchnorm=True).eval(), data)
    for lr in (1e-2, 1e-3, 1e-4):  # reproduce_hash_encoders.py's schedule, 20 epochs a stage
        s.train(epochs=20, lr=lr, batch_size=64, seed=0, weight_decay=1e-6, checkpoint_epochs=[])
    tr, te = session_codes(s, split="train").bits(), session_codes(s, split="test").bits()
    ytr, yte = data.labels("train").numpy(), data.labels("test").numpy()
    sub = np.random.default_rng(0).choice(len(tr), 2000, replace=False)
    print(width, "test", kmeans_scores(te, yte), "train", kmeans_scores(tr, ytr),
          "train 2000", kmeans_scores(tr[sub], ytr[sub]), flush=True)
