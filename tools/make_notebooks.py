"""Write the workshop notebooks (explorer/notebooks/0[1-6]_*.ipynb) from the cells below; run after editing them."""
import hashlib
from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).resolve().parents[1] / "explorer" / "notebooks"
KERNEL = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
          "language_info": {"name": "python"}}


def notebook(cells):
    nb = nbf.v4.new_notebook(metadata=KERNEL)
    nb.cells = [nbf.v4.new_markdown_cell(c[3:]) if c.startswith("md:") else nbf.v4.new_code_cell(c.strip())
                for c in cells]
    for i, cell in enumerate(nb.cells):  # ids from the content: regenerating an unchanged cell changes nothing
        cell.id = hashlib.sha1(f"{i}:{cell.source}".encode()).hexdigest()[:8]
    return nb


SALIENCY = [
    """md:# Workshop 1: where does the network look? (saliency maps)

A saliency map gives each pixel a score for how much it matters to the network's answer.
Two families are in the panel below:

* **Class activation maps** weight the feature maps $A^k$ of a convolutional layer.
  *Grad-CAM* (Selvaraju et al., 2017) uses the mean gradient of the class score $S_c$ over the map,
  $L^c = \\mathrm{ReLU}\\big(\\sum_k \\alpha_k^c A^k\\big)$
  with $\\alpha_k^c = \\frac{1}{Z}\\sum_{ij} \\partial S_c / \\partial A^k_{ij}$;
  *Grad-CAM++* (Chattopadhay et al., 2018) weights positive gradients pixel by pixel with second and third
  derivatives; *Eigen-CAM* takes the first principal component of the maps (no gradient at all);
  *CF-CAM* and *NormGrad* are recent variants.
* **Input gradients** (Simonyan et al., 2014) differentiate the score with respect to the pixels; *SmoothGrad*
  averages them over noisy copies; *integrated gradients* (Sundararajan et al., 2017) integrate them along a path
  from a baseline.

We use **block-digits**: each image is a digit (the *signal* block) stacked with a fixed decoy block that carries
no information about the class. A good map should point at the digit, and we know exactly where it is.""",
    """from explorer import Session
from explorer.panels.saliency import SaliencyPanel

session = Session.open("block-digits", "cnn", epochs=15, seed=0, progress=True)
print(f"test accuracy: {session.evaluate('test').accuracy:.1%}")
SaliencyPanel(session)""",
    """md:**Try in the panel:** move *alpha* and change the *colormap* (only a redraw); switch the *method* and the
*layer* (conv1 is early and sharp, conv3 late and coarse); set *target* to *class* and pick a wrong class.
The *compare* box shows several methods (columns) on the same images (rows); *+ layers* combines layers.

## Exercise 1: which method points at the digit?

`rank_methods` scores every method on the first 64 test images: **deletion** (the score falls fast when the most
salient pixels are removed: lower is better), **insertion** (the score rises fast when they are put back: higher is
better), the **pointing game** (is the maximum inside the digit's block?) and the **energy** inside the block.""",
    """from explorer import Table
from explorer.saliency import rank_methods

methods = ["Grad-CAM", "Grad-CAM++", "Eigen-CAM", "Input gradient", "SmoothGrad", "Integrated gradients"]
Table(rank_methods(session, methods, n=64))""",
    """md:*Questions.* Which method wins the pointing game, and does it also win deletion/insertion?
Why can a map with a perfect pointing game still have a poor deletion score? Eigen-CAM uses no gradient: what does
it show when the network is wrong?

## Exercise 2: is the map about the class at all?

*Class sensitivity* (the correlation between the maps of the highest- and the lowest-scoring class) asks whether a
method explains the class or just the image. A value near 1 means the map barely depends on the class; a map that
is all zero (no positive evidence for the bottom class) counts as 0.""",
    """from explorer.saliency import Explainer, class_sensitivity, make_method

x = session.data.inputs("test")[:64]
for name in ["Grad-CAM", "Grad-CAM++", "Eigen-CAM", "Input gradient"]:
    r = class_sensitivity(Explainer(session.model, make_method(name)), x)
    print(f"{name:14s} correlation of the top- and bottom-class maps: mean {r.mean():+.2f}")""",
    """md:*Questions.* Which method is class-blind, and why does that follow from its definition?

## Exercise 3: a sanity check (Adebayo et al., 2018)

An explanation of a network that has learned nothing should look like nothing. Rank the methods again on the same
architecture with random weights (0 epochs).""",
    """untrained = Session.open("block-digits", "cnn", epochs=0, seed=0)
print(f"untrained test accuracy: {untrained.evaluate('test').accuracy:.1%}")
Table(rank_methods(untrained, methods, n=64))""",
    """md:*Questions.* Which methods still "find" the digit with random weights? What does that tell you about them?
(Hint: a digit is brighter than its surroundings; a map that follows the input's edges passes the pointing game
without the model.)""",
    """md:## Exercise 4: cascading randomisation (Adebayo et al., 2018)

Exercise 3 swapped the whole network for an untrained one. The *model-randomisation* check is finer: it re-initialises
the layers one by one from the output down (on a copy; the trained model is untouched) and, after each, compares the
new maps with the original ones by rank correlation (Spearman) and SSIM. A map that explains the *model* should stop
resembling the original once the layers it depends on are random; a curve that stays near 1 means the map does not
depend on those weights. Here for Grad-CAM and guided backpropagation on 16 test images (a few seconds).""",
    """from explorer.saliency import model_randomization

curves = model_randomization(session.model, x[:16], ["Grad-CAM", "Guided backprop"], mode="cascading", seed=0)
Table([{"randomised down to": layer, **{f"{name} {metric}": round(c[metric][i], 2)
                                       for name, c in curves["methods"].items() for metric in ("spearman", "ssim")}}
       for i, layer in enumerate(curves["layers"])])""",
    """md:*Questions.* Which method's maps change as soon as the top layer (`fc`) is random, and which still look like
the original after `fc`, `conv3` and `conv2` are random? What does that tell you about what the second method shows?
Exercise 3 ranked both by pointing game and deletion: would those metrics have caught it? Try `mode="independent"`
(one layer at a time): which single layer matters most for guided backprop?

<details><summary><b>Answer</b> (click to open)</summary>

Grad-CAM falls to a rank correlation of about 0.2 once `fc` is random and to about 0 below: its channel weights come
from the gradient of the class score, so it depends on the top layers, as an explanation of the model should.
Guided backprop stays high (Spearman about 0.9, 0.8, 0.7) until `conv1` itself is random: its backward pass zeroes
negative gradients at every ReLU, so the map is mostly a reconstruction of the input's edges, gated by the first
layer, and barely depends on what the upper layers learnt (Adebayo et al. 2018; Nie et al. 2018). A bright digit on a
dark background gives such a map a good pointing game without the model, which is why a sanity check belongs beside
the quality metrics. With `mode="independent"`, randomising `conv1` alone takes guided backprop's SSIM to about 0 and
`conv2` alone to about 0.6, while `fc` or `conv3` alone leave it near 0.9 and 0.75.
</details>""",
]

CODES = [
    """md:# Workshop 2: a ReLU network as a hash encoder (neural codes)

Each ReLU unit is on or off for a given input. The on/off pattern of all hidden units is a binary **code**, and it
tells which linear region of the network the input falls in (inside a region the network is one affine map).
He et al. (2021), *Neural networks behave as hash encoders: an empirical study*, found that once a network is
expressive enough:

* the codes are **unique**: different inputs get different codes. They measure this with the
  **redundancy ratio** $(N - \\#\\text{unique codes}) / N$ (0: every code unique);
* the codes are **categorical**: a 9-nearest-neighbour classifier in Hamming distance on the codes classifies
  almost as well as the network, although the codes were never trained for it;
* this depends mostly on model size, training time and sample size, with three regimes: under-, critically- and
  sufficiently-expressive.

Humayun et al. (2024), *Deep networks always grok*, add **local complexity**: how many units change sign in a
small neighbourhood of an input (how many region boundaries are near it).""",
    """from explorer import Session
from explorer.panels.codes import CodesPanel

session = Session.open("digits", "mlp", width=64, depth=2, epochs=10, seed=0, progress=True)
print(f"test accuracy: {session.evaluate('test').accuracy:.1%}")
CodesPanel(session)""",
    """md:**Try in the panel:** choose one layer or all; switch the *map* between PCA, t-SNE and UMAP; colour by
*correct* to see where the errors sit; select points with the box or lasso tool to see their images and how many
distinct codes they have; move the *epoch* slider through training.

## Exercise 1: how wide must a layer be for the codes to become unique?""",
    """from explorer import Table
from explorer.codes import session_determinism

rows = []
for width in (2, 4, 8, 16, 64):
    s = Session.open("digits", "mlp", width=width, depth=1, epochs=10, seed=0)
    test = [r for r in session_determinism(s) if r["split"] == "test"][0]
    rows.append({"width": width, "network accuracy": s.evaluate("test").accuracy, **test})
Table(rows)""",
    """md:*Questions.* At which width does the redundancy ratio reach about 0? A layer of width $w$ has at most
$2^w$ codes: is that bound what stops the narrow layers? How does the *share sharing a code* differ from the
redundancy ratio?

## Exercise 2: codes over training""",
    """from explorer.codes import over_training

Table(over_training(session))""",
    """md:*Questions.* The initial (epoch 0) network is random: are its codes already unique? Already good for 9-NN?
Does local complexity rise or fall as the network trains, and is it different for train and test inputs?

## Exercise 3: the size of the neighbourhood""",
    """from explorer.codes import session_local_complexity

rows = []
for radius in (0.01, 0.1, 1.0):
    for split in ("train", "test"):
        lc = session_local_complexity(session, split=split, radius=radius)
        rows.append({"radius": radius, "split": split, **{k: float(v.mean()) for k, v in lc.items()}})
Table(rows)""",
    """md:*Questions.* How does local complexity grow with the radius? Which layer sees more sign changes, and why
should a deeper layer see more? The panel's *phase chart* tab runs a sweep over width, epochs and sample size:
where are the three regimes on digits?""",
]

LANDSCAPE = [
    """md:# Workshop 3: the loss landscape

The loss is a function of millions of weights; we can only look at it along a line or a plane through the trained
weights $\\theta$: $f(\\alpha, \\beta) = L(\\theta + \\alpha d_1 + \\beta d_2)$.

* **Filter normalisation** (Li et al., 2018): a random Gaussian direction is rescaled filter by filter to the norm of
  the trained filter, so that the picture does not depend on the weights' scale (a ReLU network is unchanged when a
  filter is scaled up and the next layer down).
* **Curvature:** the top eigenvalues of the Hessian tell how sharp the minimum is; the trace (Hutchinson's
  estimator) sums them; the eigenvalue density (stochastic Lanczos quadrature) shows the whole spectrum.
* **Linear mode connectivity** (Frankle et al., 2020): are two trained networks joined by a straight line of low
  loss? The **barrier** is the loss bump along that line.

The alpha and beta sliders below move a point through weight space and show the model *at that point* (on a copy:
your model is never changed).""",
    """from explorer import Session
from explorer.panels.landscape import LandscapePanel

session = Session.open("digits", "cnn", epochs=15, seed=0, progress=True)
print(f"test accuracy: {session.evaluate('test').accuracy:.1%}")
LandscapePanel(session)""",
    """md:**Try in the panel:** press *compute slice* (a coarse preview appears first, then it is refined); move
alpha and beta and watch the predictions below change; switch the axes to *pca* (the training trajectory is drawn)
or *hessian*; open the *interpolation* and *Hessian* tabs.

## Exercise 1: does normalisation change the picture?""",
    """from explorer import Table
from explorer.landscape import random_direction, slice_grid
from explorer.landscape.lab import eval_batch

x, y = eval_batch(session.data, 512)
rows = []
for norm in ("filter", "layer", "none"):
    d = random_direction(session.model, norm=norm, seed=0)
    s = slice_grid(session.model, x, y, d, span=1.0, n=11, preview=1)
    rows.append({"normalisation": norm, **{f"α={a:+.1f}": round(float(v), 3) for a, v in zip(s.alphas, s.loss)}})
Table(rows)""",
    """md:*Questions.* Without normalisation, why does the loss barely move (or explode) along the same range?
Which choice makes two different networks comparable?

## Exercise 2: how sharp is the minimum?""",
    """from explorer.landscape.lab import spectrum_job

early = Session.open("digits", "cnn", epochs=2, seed=0)
for name, s in (("2 epochs", early), ("15 epochs", session)):
    sp = s.run(spectrum_job(s, k=3))  # what the panel's Hessian tab computes (and shares) on 256 training inputs
    print(f"{name}: top eigenvalues {[round(float(v), 2) for v in sp['top']]}, "
          f"trace {sp['trace']:.0f} ± {2 * sp['trace_se']:.0f} ({sp['trace_samples']} Hutchinson samples)")""",
    """md:*Questions.* Does training make the minimum sharper or flatter here? Compare the top eigenvalue with
the trace: how much of the curvature sits in the top three directions?

## Exercise 3: are two networks linearly connected?""",
    """from explorer.landscape import interpolate

other = Session.open("digits", "cnn", epochs=15, seed=1)
path = interpolate(session.model, session.model, other.model, x, y, n=25)
print({k: round(v, 3) for k, v in path.barriers().items()})
rows = [{"alpha": float(a), "loss": float(f), "accuracy": float(c)}
        for a, f, c in zip(path.alphas, path.loss, path.accuracy)]
Table(rows[::4])""",
    """md:*Questions.* Two seeds, same data: is there a barrier? Now interpolate between two checkpoints of the same
run (`session.history.checkpoints[5][1]` and the final weights): why is that path flat? Hidden units can be permuted
without changing the function: the panel's *align* option matches them first (weight matching, for MLPs and
plain CNNs such as this one) — tick it and interpolate again: how much of the barrier was only a permutation?""",
]

YOUR_MODEL = [
    """md:# Your model, your images

The labs work on the models and photos you bring: any torchvision classifier (ResNet, VGG, MobileNet, ViT, Swin,
...), a timm model, or your own `nn.Module`, on a folder of images in class sub-folders (`root/cat/*.jpg`,
`root/dog/*.png`, any sizes and modes). Here `shapes_folder` makes such a folder (128 circles and 128 squares,
mixed sizes, some grey, PNG and JPEG), so the notebook runs offline, and we train a torchvision ResNet-18 (random,
seeded weights: nothing downloads) on it for 10 epochs, enough to tell circles from squares (at least 90% of the
test photos; `tests/test_your_model_notebook.py` runs these cells and checks it).""",
    """import tempfile
from pathlib import Path

from explorer.data import shapes_folder

root = shapes_folder(Path(tempfile.mkdtemp()) / "shapes", per_class=128, seed=0)
print(root, sorted(p.name for p in root.iterdir()))""",
    """md:`image_folder` resizes the shorter side and takes the centre crop at the model's size, converts grey,
RGBA and 16-bit files to RGB, names any file it cannot read, and (with `display_size`) keeps the photo at a larger
size for the overlays. With pretrained weights, `image_folder(root, weights="resnet18")` takes the weights' own
size and normalisation, and `build_model("resnet18", pretrained=True)` their class names
(`explorer.models.pretrained_preset`); both download nothing until the weights are asked for.""",
    """from explorer import Session, image_folder

data = image_folder(root, size=64, display_size=160, test_fraction=0.25, seed=0)
session = Session.open(data, "resnet18", seed=0)
session.train(epochs=10, batch_size=32, lr=1e-3, checkpoint_epochs=[0, 10])  # two checkpoints: the labs' path
print(data, f"test accuracy: {session.evaluate('test').accuracy:.1%}")""",
    """md:## Which layer does a CAM explain?

The default is the **last spatial map on the path to the logits**, found by one probing forward: for a ResNet the
output of `layer4` (after the last residual sum and ReLU, what pytorch-grad-cam's docs use), not the bare last
convolution inside it. `spatial_layers` lists every module a CAM can explain (block outputs included); 1 x 1 maps
after global pooling are refused with a clear error.""",
    """from explorer.saliency import GradCAM, default_cam_layer, overlay, spatial_layers

x = data.inputs("test")[:6]
layers = spatial_layers(session.model, x)
blocks = [n for n in layers if "." not in n]
print(f"default: {default_cam_layer(session.model, x)}; {len(layers)} layers to choose from, {blocks} and inside")""",
    """import io

import numpy as np
from IPython.display import Image as Show
from PIL import Image


def show(rows):
    buf = io.BytesIO()
    Image.fromarray(np.concatenate([np.concatenate(r, 1) for r in rows], 0)).save(buf, format="PNG")
    return Show(buf.getvalue())


maps = GradCAM()(session.model, x, targets="predicted")
photos = data.display("test")[:6]  # the photos, not the 64 x 64 model inputs
show([list(photos), [overlay(p, m) for p, m in zip(photos, maps)]])""",
    """md:## Transformers

ViT and Swin work the same way: their token outputs (N, 1 + h w, C) and channels-last maps (N, h, w, C) are read
as (N, C, h, w) maps automatically (the class token dropped, the grid found from the token count), as
pytorch-grad-cam's `reshape_transform` does by hand. Below, an untrained ViT-B/16 sized for these 64 x 64 images:
its default layer is the last block's first LayerNorm (later outputs reach the logits through the class token
only). Random weights give random maps: this shows the plumbing, not an explanation.""",
    """from explorer import build_model

vit = build_model("vit_b_16", data, seed=0).eval()
print("ViT default layer:", default_cam_layer(vit, x[:1]))
show([list(photos[:3]), [overlay(p, m) for p, m in zip(photos[:3], GradCAM()(vit, x[:3]))]])""",
    """md:## The labs on your model

Every lab takes the session: `Tour().use(session)` shows them all in tabs, with this ResNet on these photos (the
overlays on the 160-pixel photos, the model on its 64 x 64 inputs); each tab's lab is built when you open it.
`explorer.panels.saliency.SaliencyPanel(session)` shows the saliency lab alone.""",
    """from explorer.app import Tour

tour = Tour()
tour.use(session)
tour""",
]

GEOMETRY = [
    """md:# Workshop 5: the geometry of a ReLU network

A network made of linear layers, ReLUs and max-pooling is **piecewise linear**: the input space is cut into
convex *linear regions*, one per activation pattern (which units are on), and on each region the network is one
affine map $f(x) = W_x x + b_x$.

* **The linear interpreter** (Balestriero & Baraniuk, 2018: "a spline theory of deep networks"): row $c$ of $W_x$ is
  a *template* the network matches the input against for class $c$; $b_x$ is what the region adds on its own.
* **Linear regions** (Montúfar et al., 2014; Hanin & Rolnick, 2019): how many regions does a plane through three
  inputs cross? A grid gives a lower bound (regions smaller than a cell are missed); the exact count for an MLP
  cuts the plane by each unit's zero line.
* **Representation similarity** (Kornblith et al., 2019): linear CKA compares two layers' representations of the
  same inputs, invariant to rotations and isotropic scaling; *debiased* CKA corrects its bias for few inputs.
* **Neural collapse** (Papyan, Han & Donoho, 2020): late in training the penultimate features of each class
  collapse to their mean (NC1), the means form a simplex (NC2), the classifier aligns with them (NC3) and predicts
  the nearest mean (NC4).
* **Feature visualisation** (Olah et al., 2017; Nguyen et al., 2016 for multifaceted): images that drive a unit
  most, found in the data and by gradient ascent on the input.

The panel below shows all five; everything runs on a copy of the model (yours is never changed).""",
    """from explorer import Session
from explorer.panels.geometry import GeometryPanel

session = Session.open("digits", "mlp", epochs=10, seed=0, progress=True)
print(f"test accuracy: {session.evaluate('test').accuracy:.1%}")
GeometryPanel(session)""",
    """md:**Try in the panel:** move the test image in *linear map* (the red/blue templates change only when the
input crosses into another region); open *regions*, press *compute regions* and click the plane; compute the CKA
map, the collapse curves, and a unit's top images and visualisation.

## Exercise 1: is the local map exact?""",
    """import numpy as np
import torch

from explorer.geometry import local_map
from explorer.train import eval_mode

x = session.data.inputs("test")[:4]
m = local_map(session.model, x)
with torch.no_grad(), eval_mode(session.model):
    out = session.model(x).numpy()
print("max |f(x) - (W_x x + b_x)|:", float(np.abs(m.apply(x.numpy()) - out).max()))
print("bias share per input (mean over classes):", m.bias_share().mean(1).round(2))""",
    """md:*Questions.* Why is the reproduction error at rounding level? Move $x$ a little
(add `1e-3 * torch.randn_like(x)`): is the same map still exact there? How far can you go before it is not?

## Exercise 2: how many regions does a plane cross?""",
    """from explorer.geometry import exact_regions, grid_regions, plane_through

xs = session.data.inputs("test")
plane = plane_through(xs[0], xs[1], xs[2])
for res in (25, 50, 100):
    print(f"grid {res}x{res}: at least {grid_regions(session.model, plane, res).count} regions")
print("exact:", exact_regions(session.model, plane).count, "regions")""",
    """md:*Questions.* Why does the grid count grow with the resolution, and never pass the exact count? Is the
density of regions higher near the data points or far from them? Compare an untrained session (`epochs=0`).

## Exercise 3: which layers represent the inputs alike, and does the last layer collapse?""",
    """from explorer import Table
from explorer.geometry import cka_layers, session_collapse

c = cka_layers(session.model, xs[:300])
Table([{"layer": r, **{k: round(float(v), 2) for k, v in zip(c.cols, row)}} for r, row in zip(c.rows, c.values)])""",
    """rows = session_collapse(session)
head = next(k for k in rows[0] if k != "epoch")
Table([{"epoch": r["epoch"], **{k: round(r[head][k], 3) for k in ("NC1", "NC3", "NC4")}} for r in rows[::3]])""",
    """md:*Questions.* Which neighbouring layers have CKA near 1, and what does that say about the ReLU after each
linear layer? Does NC1 keep falling with more epochs? What would you expect after training far past 100% training
accuracy (Papyan et al.'s terminal phase)?""",
]

PLAYGROUND = [
    """md:# Workshop 6: a playground on your own data (exact linear regions while a network trains)

A ReLU network on the plane is **piecewise linear**: every hidden unit of the first layer is a line ($w \\cdot x + b
= 0$), every unit of a deeper layer a line *within each region* of the layers before it, bent where it crosses them.
Together they cut the plane into convex **linear regions** (one per activation pattern), and on each region the
network is one affine map, so the **decision boundary** is a polyline made of straight pieces, one per region it
crosses.

The playground below (in the spirit of the TensorFlow Playground, but on your own points and with *exact* regions,
not a grid) trains a small MLP on 2-D points and redraws its regions every few steps: the coloured parts are the
classes it predicts, the thin grey lines the region edges, the black line the decision boundary; circles are
training points, triangles held-out test points.""",
    """from explorer import Playground

Playground()""",
    """md:**Try in the panel:** press **train** and watch the regions move; press it again to train on. Change the
*width* and *depth* (a new network: the count of regions jumps), switch to *leaky relu* (the same lines, other maps),
add *weight decay* or *dropout*, try the *spirals* with depth 1 and then depth 3.

## Exercise 1: how many regions does a network make before training?

For one hidden layer of $n$ units in general position the count is at most $1 + n + \\binom{n}{2}$ (lines in the
plane); deeper layers can multiply it.""",
    """from math import comb

from explorer.playground import playground, snapshot_job, toy

moons = toy("moons", 200, noise=0.1)
for width, depth in [(4, 1), (8, 1), (16, 1), (4, 2), (8, 2), (8, 3)]:
    s = playground(moons, width=width, depth=depth, seed=0)
    n = s.run(snapshot_job(s)).regions.count
    bound = 1 + width + comb(width, 2) if depth == 1 else None
    print(f"width {width:2d} depth {depth}: {n:4d} regions" + (f" (at most {bound} in the plane)" if bound else ""))""",
    """md:*Questions.* Why is the one-layer count below the bound (hint: the box is finite)? For the same number of
units (16), is one layer of 16 or two of 8 richer?

## Exercise 2: do the regions follow the data while it trains?""",
    """from explorer.playground import train_job

s = playground(toy("spirals", 200, noise=0.05), width=16, depth=3, seed=0)
steps = []
s.run(train_job(s, epochs=60, every=150),
      progress=lambda done, total, info=None: info and "partial" in info and steps.append(info["partial"]))
for snap in steps:
    print(f"step {snap.step:4d}: {snap.regions.count:5d} regions, boundary in {len(snap.boundary):3d} pieces, "
          f"train accuracy {snap.accuracy:.0%}")""",
    """md:*Questions.* Does the number of regions grow or shrink with training, and where do new ones appear (near
the points, near the boundary, far away)? Re-run with weight decay 1e-2 (`train_job(..., weight_decay=1e-2)`).

## Exercise 3: your own points

Any (N, 2) array with integer labels works: draw a shape, load a CSV, or take two features of a real data set.
NaN or infinite coordinates are refused with the row named.""",
    """import numpy as np

rng = np.random.default_rng(0)
t = rng.uniform(0, 2 * np.pi, 300)
ring = np.stack([np.cos(t), np.sin(t)], 1) * np.where(np.arange(300) % 3 == 0, 0.4, 1.0)[:, None]
x = ring + 0.05 * rng.normal(size=ring.shape)
y = (np.arange(300) % 3 == 0).astype(int)  # the inner ring is class 1
Playground(x, y, classes=["outer", "inner"])""",
    """md:*Questions.* What is the smallest network that separates the rings? How many boundary pieces does its
decision boundary have, and why can it never be a true circle?"""
]

GROKKING = [
    """md:# Workshop 7: grokking and delayed robustness (train far past 100%)

Humayun, Balestriero and Baraniuk (2024), *Deep networks always grok and here is why*, train a network long after
it fits its training set (100% training accuracy) and watch three things on a **log step axis**:

* train and test accuracy, and **adversarial accuracy**: the accuracy under a PGD attack (Madry et al., 2018), which
  moves each test input by at most $\\epsilon$ per pixel to raise the loss;
* **local complexity** (LC): how many ReLU units change sign within a small cross-polytope of radius $r$ around an
  input, i.e. how many region boundaries are near it; at training points, test points and random points.

Their claim: long after interpolation the linear regions **migrate** away from the training points (LC there falls)
towards the decision boundary, and robustness arrives late (*delayed robustness*). The *grokking* tab of the codes
lab below trains an MLP of its own on the digits (about 30 s); its sliders recompute PGD and the regions on a plane
through three training digits at any checkpoint.""",
    """from explorer import Session
from explorer.panels.codes import CodesPanel

session = Session.open("digits", "mlp", width=64, depth=2, epochs=5, seed=0)
panel = CodesPanel(session)
panel.tabs.selected_index = 4  # the grokking tab
panel""",
    """md:**Try in the panel:** press **train**; the curves fill in as each checkpoint is measured. Then move the
*checkpoint* slider: where are the regions (colours) dense, near the white training digits or near the black
decision boundary? Move *PGD ε*: the adversarial accuracy of that checkpoint is computed again.

## Exercise 1: when does the network interpolate, and what happens after?

The same run in code: a seeded MLP (3 hidden layers of 100), AdamW with weight decay, MSE on one-hot targets
(the paper's recipe), checkpoints at log-spaced steps.""",
    """from explorer import Table, load_dataset
from explorer.codes.grokking import Settings, train_run

digits = load_dataset("digits")
run = train_run(digits, Settings(steps=3000, checkpoints=10, width=100, depth=3, eval_points=300, seed=0))
Table([{k: round(v, 3) for k, v in row.items()} for row in run.rows])""",
    """md:*Questions.* At which step does train accuracy first reach 100%? Does test accuracy keep rising after it?
What do LC at train points and LC at random points do before and after that step?

## Exercise 2: adversarial accuracy against epsilon

PGD starts from a seeded random point in the $\\epsilon$-ball; an input fooled at a small $\\epsilon$ counts as
fooled at every larger one, so each curve falls with $\\epsilon$, and at $\\epsilon = 0$ it is the clean accuracy.""",
    """from explorer.codes.pgd import adversarial_accuracy

eps = [0.0, 0.02, 0.05, 0.1, 0.2]
Table([{"step": run.steps[i], **{f"eps {e}": round(float(a), 3) for e, a in zip(eps, adversarial_accuracy(
    run.model(i), run.x["test"], run.y["test"], eps, steps=10, seed=0, bounds=run.bounds))}}
    for i in range(3, len(run.steps), 2)])""",
    """md:*Questions.* Is the network most robust when test accuracy is highest? Train for longer (`steps=10000`, or
the panel's 30,000) and compare the last checkpoint's row: is there delayed robustness on the digits?

## Exercise 3: do the regions move away from the training points?

`at_checkpoint` counts the regions on a 100 x 100 grid of the plane through three training digits, and how many
distinct regions lie near each of the three digits.""",
    """from explorer.codes.grokking import at_checkpoint

rows = []
for i in range(0, len(run.steps), 3):
    at = at_checkpoint(run, i, 0.1)
    rows.append({"step": at.step, "regions on the plane": at.regions.count, "regions near the digits": at.near,
                 "LC train": round(run.rows[i]["LC train"], 2), "LC random": round(run.rows[i]["LC random"], 2)})
Table(rows)""",
    """md:*Questions.* Does the number of regions near the digits fall while the count on the whole plane does not?
Which differences from the paper (data, width, steps, float32, LC without the output layer) could explain what you
see? The MNIST reproduction and its differences are in `benchmarks/README.md`.""",
]

NOTEBOOKS = {"01_saliency": SALIENCY, "02_neural_codes": CODES, "03_loss_landscape": LANDSCAPE,
             "04_your_model": YOUR_MODEL, "05_geometry": GEOMETRY,
             "06_playground": PLAYGROUND, "07_grokking": GROKKING}  # tests/test_notebooks.py: files in step

if __name__ == "__main__":
    for name, cells in NOTEBOOKS.items():
        nbf.write(notebook(cells), HERE / f"{name}.ipynb")
        link = HERE.parents[1] / "notebooks" / f"{name}.ipynb"
        if not link.exists():
            link.symlink_to(Path("..") / "explorer" / "notebooks" / f"{name}.ipynb")
        print("wrote", name)
