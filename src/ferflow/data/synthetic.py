"""Built-in synthetic faces: the embedded default data set.

Each face is drawn in a canonical face frame (u right, v down, both in [-1, 1])
from a handful of expression parameters, then put under a random pose (rotation,
scale, translation), lighting (brightness, contrast, a linear gradient), blur and
pixel noise. The seven classes differ the way expressions do:

=========  ===================================================================
class      cue (relative to Neutral)
=========  ===================================================================
Angry      brows low and slanted down toward the nose, eyes narrowed, lips pressed
Disgust    nose wrinkled (horizontal creases), upper lip raised, brows lowered
Fear       brows raised with inner ends up, eyes wide, mouth stretched, a little open
Happy      mouth corners up (smile), wider mouth, eyes slightly narrowed
Sad        mouth corners down, inner brow ends raised, eyes slightly narrowed
Surprise   brows high, eyes wide, mouth open in a round "O"
Neutral    relaxed: straight mouth, level brows, eyes normally open
=========  ===================================================================

Per-sample jitter makes neighbouring classes overlap (Fear/Surprise, Sad/Neutral,
Angry/Disgust), and ``label_noise`` relabels a small share of the faces at random,
so no model is perfect. :data:`CUE_REGIONS` records which face regions carry each
class's cue; :func:`generate` also returns, per image, the pixel mask of those
regions under the image's own pose (``cue_mask``) for the saliency checks.
"""

from __future__ import annotations

import numpy as np

from ferflow import CLASS_NAMES, IMAGE_SIZE
from ferflow.data.faces import Faces
from ferflow.errors import ConfigError

# Parameter order and per-class means. Units are canonical face coordinates.
PARAMS = ("mouth_curve", "mouth_open", "mouth_width", "eye_open", "brow_height",
          "brow_slant", "nose_wrinkle", "lip_raise")
_MEANS = np.array([
    # curve  open  width  eye   brow_h  slant  wrinkle lip_raise
    [-0.04, 0.00, 0.24, 0.55, -0.07, -0.55, 0.25, 0.00],  # Angry
    [-0.07, 0.04, 0.27, 0.55, -0.05, -0.30, 1.00, 0.60],  # Disgust
    [-0.03, 0.07, 0.33, 1.25, 0.06, 0.50, 0.00, 0.00],  # Fear
    [0.13, 0.05, 0.36, 0.65, 0.00, 0.00, 0.00, 0.00],  # Happy
    [-0.10, 0.00, 0.26, 0.65, 0.01, 0.50, 0.00, 0.00],  # Sad
    [0.00, 0.17, 0.19, 1.30, 0.11, 0.10, 0.00, 0.00],  # Surprise
    [0.00, 0.00, 0.30, 0.85, 0.00, 0.00, 0.00, 0.00],  # Neutral
])
# Per-parameter jitter (standard deviation), shared by all classes.
_JITTER = np.array([0.035, 0.025, 0.035, 0.20, 0.030, 0.22, 0.22, 0.22])

# Face regions in the canonical frame: (u_min, u_max, v_min, v_max)
REGIONS = {
    "brows": (-0.62, 0.62, -0.58, -0.22),
    "eyes": (-0.58, 0.58, -0.30, -0.02),
    "nose": (-0.20, 0.20, -0.10, 0.32),
    "mouth": (-0.45, 0.45, 0.30, 0.68),
}
# Which regions carry each class's cue (used to test saliency and LIME).
CUE_REGIONS = {
    "Angry": ("brows", "eyes", "mouth"),
    "Disgust": ("nose", "mouth", "brows"),
    "Fear": ("brows", "eyes", "mouth"),
    "Happy": ("mouth", "eyes"),
    "Sad": ("mouth", "brows"),
    "Surprise": ("mouth", "eyes", "brows"),
    "Neutral": ("mouth", "eyes", "brows"),
}

def _stroke(dist: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Soft ink of a stroke given the distance to its centre line."""
    return np.clip(1.2 - dist / width, 0.0, 1.0)


def _curve_dist(u, v, x0, x1, y_of_x, k=24):
    """Distance from every pixel to a sampled curve y = y_of_x(x), x in [x0, x1]."""
    t = np.linspace(0.0, 1.0, k)
    xs = x0[:, None] + (x1 - x0)[:, None] * t  # (n, k)
    ys = y_of_x(xs)
    # one curve sample at a time, the running minimum of squared distances, one sqrt at
    # the end: the same numbers as the (n, k, 48, 48) broadcast, 2-3x faster
    best = None
    for j in range(k):
        du = u - xs[:, j, None, None]
        dv = v - ys[:, j, None, None]
        d = du * du + dv * dv
        best = d if best is None else np.minimum(best, d, out=best)
    return np.sqrt(best)


def _render(p: np.ndarray, pose: np.ndarray, light: np.ndarray, rng, noise: float):
    """Render a batch. p: (n, len(PARAMS)); pose: (n, 4) angle, scale, dx, dy."""
    n = len(p)
    s = IMAGE_SIZE
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float64)
    x = (xx - (s - 1) / 2) / (s / 2)
    y = (yy - (s - 1) / 2) / (s / 2)
    ang, scale, dx, dy = (pose[:, i][:, None, None] for i in range(4))
    ca, sa = np.cos(ang), np.sin(ang)
    xr, yr = x[None] - dx, y[None] - dy
    u = (ca * xr + sa * yr) / scale  # canonical face coordinates of each pixel
    v = (-sa * xr + ca * yr) / scale
    curve, mopen, mwidth, eye, brow_h, slant, wrinkle, lip = (p[:, i] for i in range(p.shape[1]))
    one = np.ones(n)

    img = np.zeros((n, s, s))
    # background and face oval with soft edge, hair cap on top
    face = np.clip((1.0 - np.sqrt((u / 0.78) ** 2 + (v / 0.98) ** 2)) * 12, 0, 1)
    hair = np.clip((-0.62 - v) * 10, 0, 1) * face
    img += light[:, 0, None, None] * (1 - face) + 0.72 * face - 0.45 * hair

    ink = np.zeros_like(img)
    lw = 0.045 * one
    # brows: segments above each eye; slant > 0 raises the inner ends
    for side in (-1, 1):
        inner, outer = 0.10 * side, 0.52 * side
        by = -0.38 - brow_h
        lo = np.minimum(inner, outer) * one
        hi = np.maximum(inner, outer) * one

        def brow_y(xs, side=side, by=by):
            frac = (np.abs(xs) - 0.10) / 0.42  # 0 at the inner end, 1 at the outer end
            return by[:, None] - 0.09 * slant[:, None] * (1 - frac) + 0.045 * slant[:, None] * frac
        ink = np.maximum(ink, 0.9 * _stroke(_curve_dist(u, v, lo, hi, brow_y, 12), 1.1 * lw[:, None, None]))
    # eyes: ellipses; eye_open scales their height; dark pupil
    for side in (-1, 1):
        eu, ev = 0.32 * side, -0.16
        h = 0.085 * np.clip(eye, 0.15, None)[:, None, None]
        r = np.sqrt(((u - eu) / 0.15) ** 2 + ((v - ev) / h) ** 2)
        ink = np.maximum(ink, 0.85 * np.clip((1.15 - r) * 4, 0, 1) * np.clip((r - 0.55) * 4, 0, 1))
        pupil = np.sqrt(((u - eu) / 0.055) ** 2 + ((v - ev) / np.minimum(h, 0.055)) ** 2)
        ink = np.maximum(ink, np.clip((1.0 - pupil) * 3, 0, 1))
    # nose: two short strokes, plus wrinkle creases across the bridge
    nose = np.minimum(np.abs(u - 0.07) + np.clip(np.abs(v - 0.16) - 0.06, 0, None),
                      np.abs(u + 0.07) + np.clip(np.abs(v - 0.16) - 0.06, 0, None))
    ink = np.maximum(ink, 0.55 * _stroke(nose, 0.035))
    for cv in (-0.02, 0.05, 0.12):
        crease = np.abs(v - cv) + np.clip(np.abs(u) - 0.11, 0, None)
        ink = np.maximum(ink, np.clip(wrinkle, 0, 1)[:, None, None] * 0.7 * _stroke(crease, 0.028))
    # mouth: parabola with corners at +-width; curve > 0 lifts the corners (smile);
    # an opening fills the space between the upper and the lower lip
    my = 0.48 - 0.05 * lip

    def upper(xs):
        return my[:, None] - curve[:, None] * (xs / mwidth[:, None]) ** 2 * 1.0 - 0.5 * mopen[:, None] * (1 - (xs / mwidth[:, None]) ** 2)

    def lower(xs):
        return my[:, None] - curve[:, None] * (xs / mwidth[:, None]) ** 2 * 1.0 + 0.5 * mopen[:, None] * (1 - (xs / mwidth[:, None]) ** 2)

    d_up = _curve_dist(u, v, -mwidth, mwidth, upper)
    d_lo = _curve_dist(u, v, -mwidth, mwidth, lower)
    ink = np.maximum(ink, _stroke(np.minimum(d_up, d_lo), 1.2 * lw[:, None, None]))
    w = mwidth[:, None, None]
    inside_x = np.clip(1 - (u / w) ** 2, 0, None)
    centre = my[:, None, None] - curve[:, None, None] * (u / w) ** 2
    half = 0.5 * mopen[:, None, None] * inside_x
    gap = np.clip((half - np.abs(v - centre)) * 40, 0, 1) * (np.abs(u) < w)
    ink = np.maximum(ink, 0.95 * gap)

    img = img * (1 - 0.8 * ink * face)
    # lighting: contrast, brightness, linear gradient across the face
    img = img * light[:, 1, None, None] + light[:, 2, None, None]
    img += light[:, 3, None, None] * x[None] + light[:, 4, None, None] * y[None]
    # blur: a 3x3 box mixed in with a per-image weight
    pad = np.pad(img, ((0, 0), (1, 1), (1, 1)), mode="edge")
    box = sum(pad[:, i:i + s, j:j + s] for i in range(3) for j in range(3)) / 9
    bw = light[:, 5, None, None]
    img = (1 - bw) * img + bw * box
    img += rng.normal(0, noise, img.shape)
    cue = {}
    for name, (u0, u1, v0, v1) in REGIONS.items():
        cue[name] = (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)
    return np.clip(img * 255, 0, 255).round().astype(np.uint8), cue


def generate(seed: int = 0, train_per_class: int = 260, public_per_class: int = 60,
             private_per_class: int = 60, label_noise: float = 0.05,
             pose_jitter: float = 1.5, noise: float = 0.06, cue_strength: float = 1.0,
             expression_jitter: float = 1.0, batch: int = 256) -> Faces:
    """Draw a FER2013-like data set (Training, PublicTest, PrivateTest blocks).

    ``cue_strength`` scales how far each class's expression parameters lie from
    Neutral's (0: every class looks neutral; 2: twice the table's cues), and
    ``expression_jitter`` the per-face spread around them: together they set how far
    apart the classes are. ``pose_jitter`` and ``noise`` set the nuisance variation
    (pose, pixel noise) that a fully connected net copes with worse than a CNN.
    Deterministic in ``seed``. ``extra['cue_mask']`` holds, per image, the union of
    the regions in :data:`CUE_REGIONS` of its *true* (pre-noise) class;
    ``extra['true_labels']`` holds the labels before label noise.
    """
    if not 0 <= label_noise < 1:
        raise ConfigError(f"synthetic.label_noise must be in [0, 1), got {label_noise}")
    rng = np.random.default_rng(seed)
    k = len(CLASS_NAMES)
    counts = {"Training": train_per_class, "PublicTest": public_per_class,
              "PrivateTest": private_per_class}
    usage = np.concatenate([np.full(c * k, u, dtype="U11") for u, c in counts.items()])
    true = np.concatenate([rng.permutation(np.repeat(np.arange(k), c)) for c in counts.values()])
    n = len(true)
    if cue_strength < 0 or expression_jitter < 0:
        raise ConfigError("synthetic.cue_strength and synthetic.expression_jitter must be >= 0")
    means = _MEANS[-1] + cue_strength * (_MEANS - _MEANS[-1])  # row -1: Neutral
    params = means[true] + rng.normal(0, 1, (n, len(PARAMS))) * _JITTER * expression_jitter
    params[:, 3] = np.clip(params[:, 3], 0.2, None)  # eye opening
    params[:, 6:8] = np.clip(params[:, 6:8], 0, None)  # wrinkle, lip raise
    pj = pose_jitter
    pose = np.column_stack([
        rng.normal(0, 0.12 * pj, n),  # rotation (rad)
        rng.uniform(1 - 0.10 * pj, 1 + 0.06 * pj, n) * 1.08,  # scale
        rng.normal(0, 0.06 * pj, n),  # dx
        rng.normal(0, 0.06 * pj, n),  # dy
    ])
    light = np.column_stack([
        rng.uniform(0.15, 0.85, n),  # background
        rng.uniform(0.7, 1.2, n),  # contrast
        rng.uniform(-0.15, 0.15, n),  # brightness
        rng.normal(0, 0.08, n),  # horizontal gradient
        rng.normal(0, 0.05, n),  # vertical gradient
        rng.uniform(0, 0.8, n),  # blur weight
    ])
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    cue_mask = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
    region_of_class = [[name in CUE_REGIONS[c] for name in REGIONS] for c in CLASS_NAMES]
    for s in range(0, n, batch):
        sl = slice(s, min(n, s + batch))
        images[sl], cue = _render(params[sl], pose[sl], light[sl], rng, noise)
        sel = np.array(region_of_class)[true[sl]]  # (b, n_regions)
        for j, name in enumerate(REGIONS):
            cue_mask[sl] |= cue[name] & sel[:, j, None, None]
    labels = true.copy()
    flip = rng.random(n) < label_noise
    labels[flip] = (true[flip] + rng.integers(1, k, flip.sum())) % k
    return Faces(images, labels.astype(np.int8), usage, np.arange(n, dtype=np.int64),
                 extra={"cue_mask": cue_mask, "true_labels": true.astype(np.int8)})
