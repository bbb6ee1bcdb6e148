"""Training data: folder + labels CSV, held-out split, PyDataset batches, augmentations."""

from __future__ import annotations

import numpy as np
import pytest

from navee_monitor.training import augment
from navee_monitor.training.data import ImageBatches, TrainingItem, class_ids, from_folder, split
from tests.helpers.shared import art_images
from tests.training.conftest import SIZE


def test_batches_skip_an_unreadable_image_and_count_it(settings, eight_items, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"<html>not an image</html>")
    items = [TrainingItem("broken", broken), *eight_items[:5]]
    ds = ImageBatches(items, "ssl", batch_size=3, image_size=SIZE, limits=settings.imaging, shuffle=False)
    assert len(ds) == 2
    x0, y0 = ds[0]
    x1, _ = ds[1]
    # the broken image's place is taken by the next readable one: batches keep their size
    assert x0.shape == (6, SIZE, SIZE, 3) and x1.shape == (6, SIZE, SIZE, 3) and y0.shape == (6, 1)
    assert x0.dtype == np.float32 and 0 <= x0.min() and x0.max() <= 255
    assert ds.unreadable == {"broken"}
    # two views of one image differ (strong augmentation), the same seed repeats them
    assert not np.array_equal(x0[0], x0[3])
    np.testing.assert_array_equal(ds[0][0], x0)


def test_classifier_and_triplet_batches(settings, labelled_items):
    ds = ImageBatches(labelled_items, "classifier", batch_size=4, image_size=SIZE, limits=settings.imaging)
    x, y = ds[0]
    assert x.shape == (4, SIZE, SIZE, 3) and y.shape == (4, 3) and set(np.unique(y)) <= {0.0, 1.0}
    t = ImageBatches(labelled_items, "triplet", batch_size=4, image_size=SIZE, limits=settings.imaging)
    _, ids = t[0]
    assert ids.shape == (4,) and set(ids) <= {0, 1}
    unlabelled = [TrainingItem(i.key, i.path) for i in labelled_items]
    with pytest.raises(Exception, match="needs labels"):
        ImageBatches(unlabelled, "classifier", batch_size=4, image_size=SIZE, limits=settings.imaging)
    assert list(class_ids(unlabelled[:3])) == [-1, -2, -3]


def test_split_is_seeded_and_disjoint(eight_items):
    train_a, val_a = split(eight_items, 0.25, seed=1)
    train_b, val_b = split(eight_items, 0.25, seed=1)
    assert [i.key for i in val_a] == [i.key for i in val_b] and len(val_a) == 2
    assert not {i.key for i in train_a} & {i.key for i in val_a}
    assert len(train_a) + len(val_a) == 8


def test_folder_with_labels_csv(tmp_path):
    paths = art_images(3)
    folder = paths[0].parent
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text(
        "file,media_oilpaint,content_cat,style\n"
        f"{paths[0].name},positive,negative,flat\n{paths[1].name},negative,positive,flat\n"
        f"{paths[2].name},unsure,negative,glossy\n", encoding="utf-8")
    data = from_folder(folder, csv_path)
    assert data.label_names == ["content_cat", "media_oilpaint"]  # BAM attributes, in BAM order
    assert [list(i.labels) for i in data.items] == [[0, 1], [1, 0], [0, 0]]
    one_hot = from_folder(folder, csv_path, ["style", "content_cat"])
    assert one_hot.label_names == ["style=flat", "style=glossy", "content_cat"]
    assert list(one_hot.items[2].labels) == [0, 1, 0]
    with pytest.raises(Exception, match="no column"):
        from_folder(folder, csv_path, ["missing"])


def test_strong_views_are_seeded_and_sized():
    from navee_monitor.evaluation.dataset import load_rgb

    rgb = load_rgb(art_images(1)[0], 256)
    a = augment.strong_view(rgb, np.random.default_rng(5), 96)
    b = augment.strong_view(rgb, np.random.default_rng(5), 96)
    c = augment.strong_view(rgb, np.random.default_rng(6), 96)
    assert a.shape == (96, 96, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    rng = np.random.default_rng(0)
    for fn in (augment.overlay_text, augment.overlay_shapes, augment.jpeg, augment.gaussian_blur, augment.frame):
        out = fn(rgb, rng)
        assert out.dtype == np.uint8 and out.ndim == 3
        assert out.shape != rgb.shape or not np.array_equal(out, rgb), fn.__name__
    assert np.ptp(augment.grayscale(rgb).astype(int), axis=2).max() == 0


def test_copy_views_cover_every_edit_are_seeded_and_sized():
    from navee_monitor.evaluation.dataset import load_rgb

    rgb, *others = [load_rgb(p, 256) for p in art_images(4)]
    for edit in augment.COPY_EDITS:
        a = augment.copy_view(rgb, np.random.default_rng(3), 96, others, edit=edit)
        b = augment.copy_view(rgb, np.random.default_rng(3), 96, others, edit=edit)
        assert a.shape == (96, 96, 3) and a.dtype == np.uint8, edit
        np.testing.assert_array_equal(a, b)
    # the surrounding edits put the artwork inside something bigger than itself
    rng = np.random.default_rng(0)
    for out in (augment.paste_in_scene(rgb, others[0], rng), augment.collage_tile(rgb, others, rng),
                augment.screenshot(rgb, rng)):
        assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[0] >= 100 and out.shape[1] >= 100
    assert augment.caption(rgb, rng).dtype == np.uint8
    # without other images the surrounding edits are never drawn
    rng = np.random.default_rng(1)
    assert all(augment.copy_view(rgb, rng, 64).shape == (64, 64, 3) for _ in range(20))
    with pytest.raises(ValueError, match="unknown copy edit"):
        augment.copy_view(rgb, rng, 64, others, edit="nope")


def test_copy_views_pair_the_clean_image_with_its_edits():
    from navee_monitor.evaluation.dataset import load_rgb
    from navee_monitor.training.train import CachedPairs, make_views

    rgb, *others = [load_rgb(p, 256) for p in art_images(3)]
    views = make_views(rgb, np.random.default_rng(0), 64, 4, "copy", others)
    assert views.shape == (4, 64, 64, 3)
    np.testing.assert_array_equal(views[0], augment.resize_square(rgb, 64))  # as a reference is embedded
    assert not any(np.array_equal(views[0], v) for v in views[1:])
    feats = np.arange(5 * 4, dtype=np.float16).reshape(5, 4, 1, 1, 1)  # image i, view v -> 4i + v
    x, _ = CachedPairs(feats, 5, seed=0, anchor_first=True)[0]
    first, second = x[:5].ravel(), x[5:].ravel()
    assert np.all(first % 4 == 0)  # always the clean view
    assert np.all(second % 4 != 0) and np.array_equal(first // 4, second // 4)  # an edit of the same image
