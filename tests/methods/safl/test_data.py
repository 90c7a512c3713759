"""The generator's determinism (check 9), the LMDB and label-file readers with bad records, the recognizer's input
checks and a deterministic first few training losses."""

import json

import pytest
import torch

from reprolab.methods.safl.datasets import WordImages, read_label_file, read_lmdb, write_lmdb
from reprolab.methods.safl.recognizer import Recognizer, TrainConfig
from reprolab.methods.safl.synth import SynthConfig, SyntheticWordImages, generate, rare_characters, zipf_order


def test_generator_is_deterministic_per_image():
    """Check 9: image i depends only on (seed, i), whatever the chunking."""
    cfg = SynthConfig(distortions=("none", "rotation", "perspective", "curve"))
    images, labels = generate(12, cfg, seed=3)
    part, part_labels = generate(4, cfg, seed=3, start=8)
    assert torch.equal(images[8:], part) and labels[8:] == part_labels
    assert images.dtype == torch.uint8 and images.shape == (12, 3, 32, 100)
    other, other_labels = generate(12, cfg, seed=4)
    assert other_labels != labels
    lazy_images, lazy_labels = SyntheticWordImages(12, cfg, 3).batch(torch.tensor([8, 2]))
    assert torch.equal(lazy_images, images[[8, 2]]) and lazy_labels == [labels[8], labels[2]]


def test_zipf_characters_and_the_rare_set():
    order, p = zipf_order(0)
    assert sorted(order) == sorted("0123456789abcdefghijklmnopqrstuvwxyz")
    assert p[0] == pytest.approx(0.24, abs=0.01) and p[18:].sum() == pytest.approx(0.16, abs=0.01)
    _, labels = generate(50, SynthConfig(charset="rare"), seed=0)
    assert set("".join(labels)) <= set(rare_characters(0))
    with pytest.raises(ValueError, match="unknown font families"):
        SynthConfig(fonts=("comic",))


def _images(n):
    return generate(n, SynthConfig(), seed=0)


def test_lmdb_round_trip_with_bad_records_counted(tmp_path):
    import lmdb

    images, labels = _images(4)
    root = write_lmdb(tmp_path / "db", WordImages(images, labels))
    env = lmdb.open(str(root), map_size=1 << 24)
    with env.begin(write=True) as txn:                    # three bad records appended
        for i, (image, label) in enumerate([(b"not an image", "abc"), (txn.get(b"image-000000001"), ""),
                                            (txn.get(b"image-000000001"), "caf\u00e9")], start=5):
            txn.put(b"image-%09d" % i, image)
            txn.put(b"label-%09d" % i, label.encode())
        txn.put(b"num-samples", b"7")
    env.close()
    data = read_lmdb(root)
    assert data.labels == labels + ["caf\u00e9"] and torch.equal(data.images[:4], images)   # PNG is lossless
    assert data.skipped == {"undecodable_image": 1, "empty_label": 1, "out_of_vocabulary_as_unk": 1}
    assert read_lmdb(root, oov="skip").skipped["out_of_vocabulary_skipped"] == 1
    with pytest.raises(ValueError, match="outside the vocabulary"):
        read_lmdb(root, oov="error")
    with pytest.raises(FileNotFoundError, match="not an LMDB folder"):
        read_lmdb(tmp_path)


def test_label_file_formats(tmp_path):
    from PIL import Image

    images, labels = _images(3)
    for i, image in enumerate(images):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(tmp_path / f"{i}.png")
    (tmp_path / "labels.txt").write_text(f"0.png\t{labels[0]}\n1.png {labels[1]}\nmissing.png abc\n")
    data = read_label_file(tmp_path / "labels.txt")
    assert data.labels == labels[:2] and data.skipped == {"undecodable_image": 1}
    (tmp_path / "labels.jsonl").write_text(json.dumps({"filename": "2.png", "text": labels[2]}) + "\n")
    assert read_label_file(tmp_path / "labels.jsonl").labels == [labels[2]]


def test_recognizer_input_checks_and_deterministic_losses():
    images, labels = _images(16)
    recognizer = Recognizer.from_config(size="light", seed=0)
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 100\)"):
        recognizer.recognize(torch.zeros(2, 3, 64, 256, dtype=torch.uint8))
    with pytest.raises(ValueError, match="uint8 in \\[0, 255\\] or float32"):
        recognizer.recognize(torch.zeros(2, 3, 32, 100, dtype=torch.float64))
    with pytest.raises(ValueError, match="uint8"):
        WordImages(images.float(), labels)
    with pytest.raises(ValueError, match="no training images"):
        recognizer.fit(WordImages(images[:0], []))
    cfg = TrainConfig(steps=10, batch_size=8)
    losses = [Recognizer.from_config(size="light", seed=0).fit(WordImages(images, labels), cfg).history["loss"]
              for _ in range(2)]
    assert losses[0] == losses[1] and all(v == v for v in losses[0])           # check 9: identical, no NaN
    crnn = Recognizer.from_config("crnn", seed=0).fit(WordImages(images, labels), cfg)
    assert len(crnn.recognize(images[:3])) == 3 and all(v > 0 for v in crnn.history["loss"])
