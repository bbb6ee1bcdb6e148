"""YoloDetector with the real Yolo-Fastest-1.1 files on darknet's sample photos."""

from __future__ import annotations

import numpy as np
import pytest

from navee_monitor.detect import YoloDetector
from navee_monitor.detect.boxes import clip_box, iou
from navee_monitor.detect.yolo import darknet_uses_letterbox, parse_outputs, prepare_input
from navee_monitor.errors import ModelError
from tests.detect.conftest import detect_image
from tests.helpers.shared import yolo_dir

# approximate object boxes [x, y, w, h] in darknet's sample photos
DOG_JPG = {"dog": [128, 224, 186, 316], "bicycle": [117, 124, 448, 300], "car": [468, 76, 220, 96]}
PERSON_JPG = {"person": [190, 95, 81, 286], "dog": [62, 265, 141, 87], "horse": [400, 137, 199, 204]}


def _best(regions, label_set, box):
    return max((iou(r.bbox, box) for r in regions if r.label in label_set), default=0.0)


def test_dog_jpg_finds_dog_bicycle_and_vehicle(yolo, dog_rgb):
    regions = yolo.propose(dog_rgb)
    assert _best(regions, {"dog"}, DOG_JPG["dog"]) >= 0.5
    assert _best(regions, {"bicycle"}, DOG_JPG["bicycle"]) >= 0.5
    assert _best(regions, {"car", "truck"}, DOG_JPG["car"]) >= 0.5
    dog = next(r for r in regions if r.label == "dog")
    assert dog.score > 0.8


def test_person_jpg_finds_person_dog_and_horse(yolo):
    rgb = detect_image("person.jpg")
    regions = yolo.propose(rgb)
    assert _best(regions, {"person"}, PERSON_JPG["person"]) >= 0.6
    assert _best(regions, {"dog"}, PERSON_JPG["dog"]) >= 0.5
    # the small XL model at 320 px calls the horse a cow (0.97); the box is right,
    # which is what a crop needs. At 416 px it names it a horse.
    assert _best(regions, {"horse", "cow"}, PERSON_JPG["horse"]) >= 0.6


def test_larger_input_size_names_the_horse(yolo_files):
    det = YoloDetector(yolo_files["weights"], yolo_files["names"], yolo_files["cfg"], input_size=416)
    regions = det.propose(detect_image("person.jpg"))
    assert _best(regions, {"horse"}, PERSON_JPG["horse"]) >= 0.6


def test_other_darknet_model_by_configuration():
    d = yolo_dir()
    det = YoloDetector(d / "yolo-fastest-1.1.weights", d / "coco.names", d / "yolo-fastest-1.1.cfg", input_size=320)
    regions = det.propose(detect_image("person.jpg"))
    assert _best(regions, {"person"}, PERSON_JPG["person"]) >= 0.6


def test_confidence_threshold_and_class_names(yolo_files, dog_rgb):
    strict = YoloDetector(yolo_files["weights"], yolo_files["names"], yolo_files["cfg"], confidence=0.9)
    loose = YoloDetector(yolo_files["weights"], yolo_files["names"], yolo_files["cfg"], confidence=0.05)
    s, lo = strict.propose(dog_rgb), loose.propose(dog_rgb)
    assert all(r.score >= 0.9 for r in s) and len(lo) > len(s)
    names = set(open(yolo_files["names"]).read().split("\n"))
    assert {r.label for r in lo} <= names


@pytest.mark.parametrize(
    "crop", [(slice(None), slice(220, None)), (slice(0, 300), slice(None)), (slice(150, 450), slice(100, 500))]
)
def test_boxes_inside_cut_off_objects(yolo, crop):
    # objects cut by the image border: boxes must be clipped, never negative or past the edge
    rgb = detect_image("dog.jpg")[crop]
    regions = yolo.propose(rgb)
    assert regions
    for r in regions:
        assert r.x >= 0 and r.y >= 0 and r.x + r.w <= rgb.shape[1] and r.y + r.h <= rgb.shape[0]


def test_clip_box():
    assert clip_box(-10.4, -3, 50.6, 20, 40, 30) == (0, 0, 40, 20)
    assert clip_box(10, 10, 10.2, 20, 40, 30) is None
    assert clip_box(45, 5, 60, 9, 40, 30) is None


def test_letterbox_maps_boxes_back(yolo_files, dog_rgb):
    lb = YoloDetector(yolo_files["weights"], yolo_files["names"], yolo_files["cfg"], resize="letterbox")
    assert lb.letterbox
    assert _best(lb.propose(dog_rgb), {"dog"}, DOG_JPG["dog"]) >= 0.5
    blob, mapping = prepare_input(dog_rgb, 320, letterbox=True)
    assert blob.shape == (1, 3, 320, 320)
    assert mapping.scale_x == mapping.scale_y == pytest.approx(320 / 768)
    assert mapping.pad_y == (320 - 240) // 2 and mapping.pad_x == 0


def test_darknet_letterbox_key_read_from_cfg(tmp_path, yolo_files):
    assert darknet_uses_letterbox(yolo_files["cfg"]) is False
    cfg = tmp_path / "lb.cfg"
    cfg.write_text("[net]\nwidth=320\nletter_box=1\n[convolutional]\nletter_box=0\n")
    assert darknet_uses_letterbox(cfg) is True


def _darknet_raw(yolo, rgb):
    blob, _ = prepare_input(rgb, 320, letterbox=False)
    yolo._net.setInput(blob)
    return [np.array(o) for o in yolo._net.forward(yolo._out_names)]


def test_onnx_layouts_parse_like_darknet(yolo, dog_rgb):
    """YOLOv5- and YOLOv8-style ONNX outputs, rebuilt from the real network's rows, parse the same."""
    raw = _darknet_raw(yolo, dog_rgb)
    ref_boxes, ref_conf, ref_ids = parse_outputs(raw, 80, 320, objectness_applied=True, normalized=True)
    rows = np.concatenate(raw)
    obj = rows[:, 4:5]
    v5 = rows.copy()
    v5[:, :4] *= 320  # input pixels
    v5[:, 5:] = np.divide(rows[:, 5:], obj, out=np.zeros_like(rows[:, 5:]), where=obj > 0)  # raw class probs
    b5, c5, i5 = parse_outputs([v5[None]], 80, 320, objectness_applied=False)
    v8 = np.concatenate([rows[:, :4] * 320, rows[:, 5:]], axis=1).T[None]  # (1, 84, N)
    b8, c8, i8 = parse_outputs([v8], 80, 320, objectness_applied=False)
    keep = ref_conf > 0.25
    for b, c, i in ((b5, c5, i5), (b8, c8, i8)):
        np.testing.assert_allclose(b[keep], ref_boxes[keep], rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(c[keep], ref_conf[keep], rtol=1e-3, atol=1e-4)
        assert np.array_equal(i[keep], ref_ids[keep])


def test_names_file_not_matching_model_is_a_model_error(tmp_path, yolo_files, dog_rgb):
    names = tmp_path / "three.names"
    names.write_text("a\nb\nc\n")
    det = YoloDetector(yolo_files["weights"], names, yolo_files["cfg"])
    with pytest.raises(ModelError, match="names file"):
        det.propose(dog_rgb)


def test_damaged_weights_are_a_model_error(tmp_path, yolo_files):
    bad = tmp_path / "bad.weights"
    data = open(yolo_files["weights"], "rb").read()
    bad.write_bytes(data[: len(data) // 2])  # an interrupted download: OpenCV itself accepts it
    with pytest.raises(ModelError, match="truncated"):
        YoloDetector(bad, yolo_files["names"], yolo_files["cfg"])
    bad.write_bytes(b"")
    with pytest.raises(ModelError):
        YoloDetector(bad, yolo_files["names"], yolo_files["cfg"])
    with pytest.raises(ModelError, match="cannot load"):
        YoloDetector(tmp_path / "absent.onnx", yolo_files["names"], model_format="onnx")
    with pytest.raises(ModelError):
        YoloDetector(yolo_files["weights"], tmp_path / "absent.names", yolo_files["cfg"])
