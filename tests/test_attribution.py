"""Attribution methods and faithfulness scores against their definitions: models whose
answers are known (a linear model, a model that looks at one quadrant only) and an
"explainer" that ignores the model."""

import numpy as np
import pytest

from ferflow.explanations.attribution import (
    Attributor,
    baseline_images,
    lime_map,
    occlusion,
    randomised,
)
from ferflow.explanations.faithfulness import area, cue_share, curves, order, random_orders, rank_correlation
from ferflow.explanations.methods import saliency


@pytest.fixture(scope="module")
def linear(keras):
    """softmax(W . pixels / 255): d logit_c / d pixel = W[pixel, c] / 255 everywhere."""
    inp = keras.Input((48, 48, 1))
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = keras.layers.Flatten()(x)
    dense = keras.layers.Dense(7, activation="softmax")
    model = keras.Model(inp, dense(x))
    w = np.random.default_rng(0).normal(size=(48 * 48, 7)).astype(np.float32)
    dense.set_weights([w, np.zeros(7, np.float32)])
    return model, w


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).uniform(0, 255, (5, 48, 48, 1)).astype(np.float32)


class _Quadrant:
    """Keras layer factory: keeps the top-left 24x24 quadrant of every channel."""

    @staticmethod
    def build(keras):
        class Quadrant(keras.layers.Layer):
            def call(self, x):
                mask = np.zeros((1, 48, 48, 1), np.float32)
                mask[:, :24, :24] = 1
                return x * mask

        return Quadrant(name="quadrant")


@pytest.fixture(scope="module")
def quadrant(keras):
    """Class 0's score is the mean brightness of the top-left quadrant (through a 1x1
    convolution with 3 channels, so Grad-CAM has a convolution to look at); the other
    classes' scores are 0."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((48, 48, 1))
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    conv = keras.layers.Conv2D(3, 1, use_bias=False, name="conv")
    x = _Quadrant.build(keras)(conv(x))
    x = keras.layers.GlobalAveragePooling2D()(x)
    head = keras.layers.Dense(7, activation="softmax", name="probs")
    model = keras.Model(inp, head(x))
    conv.set_weights([np.ones((1, 1, 1, 3), np.float32)])
    w = np.zeros((3, 7), np.float32)
    w[:, 0] = 20.0
    head.set_weights([w, np.zeros(7, np.float32)])
    return model


def test_gradient_of_a_linear_model_is_its_weight_map(linear, images):
    model, w = linear
    classes = np.array([0, 3, 6, 1, 2])
    a = Attributor(model, batch_size=2)  # chunks of 2: the last chunk is smaller
    g = a.gradients(images, classes)
    for k, c in enumerate(classes):
        np.testing.assert_allclose(g[k, ..., 0], w[:, c].reshape(48, 48) / 255.0, rtol=1e-4,
                                   atol=1e-7)
    np.testing.assert_allclose(a.gradient(images, classes), np.abs(g[..., 0]), rtol=1e-6)
    np.testing.assert_allclose(saliency(model, images, classes), np.abs(g[..., 0]), rtol=1e-6)
    # SmoothGrad of a linear model: every noisy copy has the same gradient
    np.testing.assert_allclose(a.smoothgrad(images, classes, samples=4, noise=0.2, seed=1),
                               np.abs(g[..., 0]), rtol=1e-4, atol=1e-7)
    # the explained score is the logit: W . x / 255
    np.testing.assert_allclose(a.scores(images, classes),
                               [images[k].ravel() @ w[:, c] / 255 for k, c in enumerate(classes)],
                               rtol=1e-4)


@pytest.mark.parametrize("kind", ["mean", "black"])
def test_integrated_gradients_sum_to_the_score_difference(keras, images, kind):
    keras.utils.set_random_seed(3)
    inp = keras.Input((48, 48, 1))
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D(4)(x)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(7, activation="softmax")(x))
    a = Attributor(model)
    classes = np.arange(5)
    base = baseline_images(images, kind)
    ig = a.integrated_gradients(images, classes, base, steps=64)
    gap = a.scores(images, classes) - a.scores(base, classes)
    assert np.all(np.abs(gap) > 1e-3)  # a difference worth explaining
    np.testing.assert_allclose(ig.reshape(5, -1).sum(1), gap, rtol=0.01)


def test_baselines():
    x = np.arange(2 * 48 * 48, dtype=np.float32).reshape(2, 48, 48, 1)
    mean = baseline_images(x, "mean")
    np.testing.assert_allclose(mean[1], x[1].mean())
    assert (baseline_images(x, "black") == 0).all()
    with pytest.raises(ValueError, match="analysis.explanations.baseline"):
        baseline_images(x, "grey")


def test_grad_cam_lights_the_quadrant_the_class_depends_on(quadrant, images):
    a = Attributor(quadrant)
    classes = np.zeros(len(images), int)
    # at the layer that keeps the quadrant, the map is that quadrant's brightness
    cam = a.grad_cam(images, classes, "quadrant")
    assert (cam[:, :23, :23] > 0).all()
    assert cam[:, 25:, :].max() == 0 and cam[:, :, 25:].max() == 0  # (bilinear: 1 px seam)
    # at the convolution before it, the definition: ReLU(sum_k alpha_k A_k) with alpha_k
    # the mean gradient of channel k: d logit_0 / d A_k = 20 / 48^2 inside the quadrant
    # (global average pooling), 0 outside, so alpha_k = 20 / 48^2 / 4, A_k = x / 255
    alpha = 20 / 48 ** 2 / 4
    np.testing.assert_allclose(a.grad_cam(images, classes, "conv"),
                               3 * alpha * images[..., 0] / 255, rtol=1e-4)
    with pytest.raises(ValueError, match="no spatial output"):
        a.grad_cam(images, classes, "probs")


def test_a_perfect_order_deletes_faster_and_inserts_faster_than_a_random_one(quadrant, images):
    model = quadrant
    x = images.copy()
    x[:, :24, :24] = 255.0  # class 0 sure on the face, less so on the black baseline
    classes = np.zeros(len(x), int)
    base = baseline_images(x, "black")
    perfect = np.zeros((len(x), 48, 48))
    perfect[:, :24, :24] = 1.0
    tiebreak = random_orders(len(x), 48 * 48, seed=0)

    def predict(imgs):
        return model.predict(imgs, verbose=0)

    d_good, i_good = curves(predict, x, base, order(perfect, tiebreak), classes, steps=8)
    d_rand, i_rand = curves(predict, x, base, tiebreak, classes, steps=8)
    p0 = predict(x)[:, 0]
    pb = predict(base)[:, 0]
    for d, i in ((d_good, i_good), (d_rand, i_rand)):  # the curves' ends
        np.testing.assert_allclose(d[:, 0], p0, rtol=1e-5)
        np.testing.assert_allclose(d[:, -1], pb, rtol=1e-5)
        np.testing.assert_allclose(i[:, 0], pb, rtol=1e-5)
        np.testing.assert_allclose(i[:, -1], p0, rtol=1e-5)
    assert (area(d_good) < area(d_rand)).all()
    assert (area(i_good) > area(i_rand)).all()
    # after the quadrant's quarter of the pixels the perfect order has removed all evidence
    np.testing.assert_allclose(d_good[:, 2:], np.repeat(pb[:, None], 7, 1), rtol=1e-5)


def test_order_breaks_ties_by_the_faces_random_order():
    maps = np.zeros((2, 2, 3))
    maps[0, 1, 2] = 5.0  # pixel 5 first; the rest tie
    tiebreak = np.array([[3, 1, 0, 5, 2, 4], [5, 4, 3, 2, 1, 0]])
    np.testing.assert_array_equal(order(maps, tiebreak), [[5, 3, 1, 0, 2, 4], [5, 4, 3, 2, 1, 0]])
    r = random_orders(3, 10, seed=4)
    assert (np.sort(r, axis=1) == np.arange(10)).all()
    np.testing.assert_array_equal(r, random_orders(3, 10, seed=4))


def test_area_under_a_curve():
    np.testing.assert_allclose(area(np.full((2, 5), 0.3)), 0.3)
    np.testing.assert_allclose(area(np.array([[1.0, 0.0, 0.0]])), 0.25)  # trapezoid


def test_rank_correlation_and_cue_share():
    rng = np.random.default_rng(0)
    a = rng.random((3, 48, 48))
    np.testing.assert_allclose(rank_correlation(a, a), 1.0)
    np.testing.assert_allclose(rank_correlation(a, -a), -1.0)
    np.testing.assert_allclose(rank_correlation(a, np.ones_like(a)), 0.0)  # constant: 0
    b = rng.random((3, 48, 48))
    assert np.abs(rank_correlation(a, b)).max() < 0.1
    mask = np.zeros((3, 48, 48), bool)
    mask[:, 10:20, 5:30] = True
    np.testing.assert_allclose(cue_share(np.ones((3, 48, 48)), mask), mask.mean())  # uniform
    np.testing.assert_allclose(cue_share(mask * 2.0 - 1.0, mask), 1.0)  # negative part ignored
    assert np.isnan(cue_share(-np.ones((3, 48, 48)), mask)).all()


def _edges(images):
    """An "explainer" that never looks at the model: the image's gradient magnitude."""
    gy, gx = np.gradient(images[..., 0], axis=(1, 2))
    return np.hypot(gx, gy)


def test_the_randomisation_check_fails_an_explainer_that_ignores_the_weights(keras, images):
    from ferflow.evaluation.stats import mean_interval
    from ferflow.explanations.table import _randomisation

    keras.utils.set_random_seed(5)
    inp = keras.Input((48, 48, 1))
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = keras.layers.Conv2D(8, 5, padding="same", activation="relu", name="c1")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inp, keras.layers.Dense(7, activation="softmax")(x))
    other = randomised(model, seed=11)
    assert [w.shape for w in other.get_weights()] == [w.shape for w in model.get_weights()]
    assert not np.allclose(other.get_weights()[0], model.get_weights()[0])
    x = np.random.default_rng(9).uniform(0, 255, (12, 48, 48, 1)).astype(np.float32)
    cls = np.zeros(12, int)

    def check(explain):
        rho = rank_correlation(explain(model, x, cls), explain(other, x, cls))
        mean, lo, hi = mean_interval(rho, 2000, 0)
        return mean, _randomisation(lo, hi, 0.5)

    rho_edges, verdict = check(lambda m, imgs, c: _edges(imgs))
    assert rho_edges == pytest.approx(1.0) and verdict == "fails"
    rho_grad, verdict = check(lambda m, imgs, c: Attributor(m).gradient(imgs, c))
    assert rho_grad < 0.5 and verdict == "passes", rho_grad


def test_lime_map_spreads_superpixel_weights():
    seg = np.array([[0, 0, 1], [2, 2, 1]])
    m = lime_map({"segments": seg, "weights": {0: 0.5, 2: -0.25}})
    np.testing.assert_allclose(m, [[0.5, 0.5, 0.0], [-0.25, -0.25, 0.0]])


def test_occlusion_of_a_linear_model_is_the_mean_drop_over_the_covering_squares():
    """predict: class 1's score is a weighted sum of the pixels, so a square's drop is
    the sum of weight x (pixel - baseline) inside it; each pixel's value is the mean over
    the squares that cover it (written out here with loops)."""
    rng = np.random.default_rng(0)
    w = np.zeros((48, 48), np.float32)
    w[4:12, 30:40] = rng.uniform(0.5, 1.0, (8, 10))  # only this block counts

    def predict(x):
        s = (x[..., 0] * w).sum(axis=(1, 2)) / 1000.0
        return np.stack([np.zeros_like(s), s], axis=1)

    x = rng.integers(0, 256, (2, 48, 48, 1)).astype(np.float32)
    base = baseline_images(x, "mean")
    maps = occlusion(predict, x, np.array([1, 1]), base, patch=8, stride=6)
    starts = sorted({*range(0, 41, 6), 40})
    expected = np.zeros((2, 48, 48))
    cover = np.zeros((48, 48))
    for t in starts:
        for left in starts:
            sq = (slice(t, t + 8), slice(left, left + 8))
            drop = ((x[:, sq[0], sq[1], 0] - base[:, sq[0], sq[1], 0]) * w[sq]).sum((1, 2)) / 1000
            expected[:, sq[0], sq[1]] += drop[:, None, None]
            cover[sq] += 1
    np.testing.assert_allclose(maps, expected / cover, rtol=1e-4, atol=1e-6)
    assert cover.min() >= 1  # every pixel covered, the last row and column included
    assert np.all(maps[:, 30:, :] == 0)  # no square over the block reaches these rows
    assert np.abs(maps[:, 4:12, 30:40]).max() > 0.01
    assert occlusion(predict, x[:0], np.array([], int), base[:0]).shape == (0, 48, 48)
