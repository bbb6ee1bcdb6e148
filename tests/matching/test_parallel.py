"""The matcher's worker threads: same results for any number of workers, failures surface."""

from __future__ import annotations

import pytest

from navee_monitor.matching.matcher import Matcher
from navee_monitor.matching.parallel import StageClock, parallel_map
from tests.helpers.shared import photo_images
from tests.matching.conftest import mockup, modified_copies, rgb


def _with_workers(settings, workers: int):
    return settings.model_copy(update={"matching": settings.matching.model_copy(update={"workers": workers})})


def _signature(results):
    return [[(r.as_json(), r.details) for r in res] for res in results]


def test_results_do_not_depend_on_the_number_of_workers(collection):
    settings, refs, distractors = collection
    copies = modified_copies(refs[0])
    batch = [copies["crop"], copies["caption"], mockup(refs[5], photo_index=1)[0], rgb(distractors[0]),
             rgb(photo_images(3)[2]), copies["small"], mockup(refs[6], photo_index=2)[0]]
    sequential = Matcher(_with_workers(settings, 1))
    parallel = Matcher(_with_workers(settings, 3), catalog=sequential.catalog, proposer=sequential.proposer)
    expected = sequential.match(batch)
    assert expected[0][0].reference == refs[0].stem and expected[2][0].reference == refs[5].stem
    for _ in range(2):  # threads interleave differently each time
        assert _signature(parallel.match(batch)) == _signature(expected)
    # a batch's images are matched independently: one at a time gives the same
    assert _signature([sequential.match([im])[0] for im in batch[:3]]) == _signature(expected[:3])
    assert {"regions", "pdq", "embed", "search", "verify"} <= set(parallel.timings)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failure_in_a_worker_reaches_the_caller(collection, workers):
    settings, refs, _ = collection

    class Failing(Matcher):
        def _decide(self, image, prepared, hits, stages):
            if image.shape[0] == 77:
                raise RuntimeError("poisonous image")
            return super()._decide(image, prepared, hits, stages)

    m = Failing(_with_workers(settings, workers))
    good = rgb(refs[1])
    with pytest.raises(RuntimeError, match="poisonous image"):
        m.match([good, good[:77], good])
    assert m.match([good])[0][0].reference == refs[1].stem  # the matcher still works afterwards


def test_parallel_map_keeps_order_and_runs_inline_with_one_worker():
    import threading

    with parallel_map(1) as run:
        threads = [f.result() for f in run(lambda _: threading.current_thread(), range(3))]
    assert threads == [threading.current_thread()] * 3
    with parallel_map(2) as run:
        assert [f.result() for f in run(lambda x: x * x, range(20))] == [x * x for x in range(20)]
    clock = StageClock()
    clock.add("a", 1.0)
    clock.add("a", 0.5)
    assert clock.seconds == {"a": 1.5}
