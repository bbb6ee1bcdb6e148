"""ReferenceCatalog with the real embedder: whitening policy in action, rebuilds, reloads, removal."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from navee_monitor.references.catalog import ReferenceCatalog
from navee_monitor.references.ingest import add_references
from navee_monitor.store import references as store
from navee_monitor.store.db import session_scope
from tests.helpers.shared import art_images, photo_images
from tests.references.conftest import CountingEmbedder

pytestmark = pytest.mark.slow


@pytest.fixture
def settings(make_settings):
    # whitening to 4 dimensions once there are 2 x 4 = 8 references
    return make_settings(embedding={"dim": 4}, index={"kind": "exact"}, imaging={"max_side": 256},
                         references={"whitening_min_factor": 2.0, "whitening_refit_growth": 2.0})


def folder_of(tmp_path, name, paths):
    root = tmp_path / name
    root.mkdir()
    for p in paths:
        shutil.copy(p, root / p.name)
    return root


def rgb(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_whitening_is_fitted_past_the_threshold_without_re_embedding(settings, db_url, tmp_path, embedder):
    images = art_images(9)
    catalog = ReferenceCatalog(settings, embedder=embedder)
    start = embedder.images
    add_references(settings, [str(folder_of(tmp_path, "a", images[:6]))], catalog=catalog)
    assert embedder.images - start == 6
    assert catalog.whitening_version is None and catalog.model_version == embedder.model_version
    assert catalog.stats()["dim"] == embedder.dim and len(catalog) == 6

    add_references(settings, [str(folder_of(tmp_path, "b", images[6:9]))], catalog=catalog)
    assert embedder.images - start == 9  # only the 3 new images were embedded
    stats = catalog.stats()
    assert stats["whitening_version"] and stats["whitening_fitted_on"] == 9 and stats["dim"] == 4
    assert catalog.model_version == f"{embedder.model_version}+{stats['whitening_version']}"
    assert (settings.data_dir / "index" / "whitening.npz").is_file()

    # another process (a fresh catalog) loads the same index from disk and finds the references
    fresh = ReferenceCatalog(settings, embedder=embedder)
    queries = fresh.describe([rgb(images[2]), rgb(photo_images(1)[0])])
    hits = fresh.search(queries, 3)
    assert hits[0][0][0] == images[2].stem and hits[0][0][1] > 0.99
    assert hits[1][0][1] < hits[0][0][1]
    assert fresh.model_version == catalog.model_version and len(fresh) == 9

    # a plain rebuild (another process, `index rebuild`) keeps the fitted whitening
    before = embedder.images
    kept = ReferenceCatalog(settings, embedder=embedder).rebuild()
    assert kept["whitening"] == "keep" and kept["model_version"] == catalog.model_version
    # a forced refit rebuilds from the stored raw vectors, nothing re-embedded
    summary = fresh.rebuild(refit_whitening=True)
    assert summary["reembedded"] == 0 and summary["whitening"] == "fit" and embedder.images == before


def test_lost_index_is_rebuilt_from_stored_descriptors(settings, db_url, tmp_path, embedder):
    images = art_images(3)
    catalog = ReferenceCatalog(settings, embedder=embedder)
    add_references(settings, [str(folder_of(tmp_path, "a", images))], catalog=catalog)
    shutil.rmtree(settings.data_dir / "index")
    before = embedder.images
    fresh = ReferenceCatalog(settings, embedder=embedder)
    assert len(fresh) == 3 and embedder.images == before


def test_model_change_re_embeds_stored_images_without_downloading(settings, db_url, tmp_path, embedder):
    images = art_images(3)
    add_references(settings, [str(folder_of(tmp_path, "a", images))], catalog=ReferenceCatalog(settings, embedder=embedder))
    other_model = CountingEmbedder(embedder.inner)
    other_model.model_version = embedder.model_version + "-retrained"
    catalog = ReferenceCatalog(settings, embedder=other_model)
    assert len(catalog) == 3 and other_model.images == 3  # re-embedded from data_dir/references
    assert catalog.model_version == other_model.model_version
    with session_scope(settings.database_url) as s:
        assert store.descriptor_versions(s) == {embedder.model_version: 3, other_model.model_version: 3}


def test_remove_needs_no_model_and_updates_the_index(settings, db_url, tmp_path, embedder):
    images = art_images(3)
    catalog = ReferenceCatalog(settings, embedder=embedder)
    add_references(settings, [str(folder_of(tmp_path, "a", images))], catalog=catalog)

    class NoModel(ReferenceCatalog):
        @property
        def embedder(self):
            raise AssertionError("remove must not load the embedding model")

    with session_scope(settings.database_url) as s:
        store.remove_references(s, [images[0].stem])
    assert NoModel(settings).remove([images[0].stem, "unknown"]) == 1
    before = embedder.images
    catalog.reload()
    assert len(catalog) == 2 and embedder.images == before
    assert catalog.stats()["vectors"] == 2
