"""The generator's determinism (check 9), the LMDB and label-file readers with bad records, training streamed from
several LMDB roots, saving and loading a recognizer, the recognizer's input checks and a deterministic first few
training losses."""

import dataclasses
import json
from collections import Counter

import pytest
import torch

from reprolab.methods.safl.datasets import LmdbWordImages, WordImages, read_label_file, read_lmdb, write_lmdb
from reprolab.methods.safl.recognizer import LossLog, Recognizer, TrainConfig
from reprolab.methods.safl.synth import SynthConfig, SyntheticWordImages, generate, rare_characters, zipf_order
from reprolab.methods.safl.vocab import DIGITS


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


def test_strings_over_another_alphabet():
    order, p = zipf_order(0, DIGITS)
    assert sorted(order) == list(DIGITS) and order == zipf_order(0, DIGITS)[0]
    assert p[0] == pytest.approx(0.34, abs=0.01) and p[5:].sum() == pytest.approx(0.22, abs=0.01)
    cfg = SynthConfig(alphabet=DIGITS, min_len=3, max_len=5)
    _, labels = generate(60, cfg, seed=0)
    assert set("".join(labels)) <= set(DIGITS) and {len(s) for s in labels} == {3, 4, 5}
    counts = Counter("".join(labels))
    assert counts.most_common(1)[0][0] == order[0]
    _, rare = generate(30, dataclasses.replace(cfg, charset="rare"), seed=0)
    assert set("".join(rare)) <= set(rare_characters(0, DIGITS)) == set(order[5:])
    for bad in ("4", "00", "AB", "0-"):
        with pytest.raises(ValueError, match="alphabet"):
            SynthConfig(alphabet=bad)


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


def _append(root, records):
    """Records (image bytes, label) appended to an LMDB root."""
    import lmdb

    env = lmdb.open(str(root), map_size=1 << 24)
    with env.begin(write=True) as txn:
        n = int(txn.get(b"num-samples"))
        for i, (image, label) in enumerate(records, start=n + 1):
            txn.put(b"image-%09d" % i, image)
            txn.put(b"label-%09d" % i, label.encode())
        txn.put(b"num-samples", str(n + len(records)).encode())
    env.close()


def test_training_streams_several_lmdb_roots_and_counts_long_labels(tmp_path):
    images, labels = _images(7)
    first = write_lmdb(tmp_path / "mj", WordImages(images[:4], labels[:4]))
    second = write_lmdb(tmp_path / "st", WordImages(images[4:], labels[4:]))
    png = read_bytes_of_record(first, 1)
    _append(first, [(b"corrupt", "abc"), (png, "x" * 25), (png, "y" * 24)])
    stream = LmdbWordImages([first, second])
    assert len(stream) == 4 + 2 + 3 and stream.skipped == {"label_too_long": 1}
    assert not any(isinstance(v, torch.Tensor) for v in vars(stream).values())      # no image held in memory
    batch, batch_labels = stream.batch(torch.arange(9))
    assert batch_labels == labels[:4] + ["y" * 24] + labels[4:]
    assert torch.equal(batch, torch.cat([images[:4], images[:1], images[4:]]))
    assert stream.skipped == {"label_too_long": 1, "undecodable_image": 1}
    assert list(stream.bad_images) == [f"{first}/image-000000005"]
    stream.batch(torch.tensor([4, 0]))                                               # met again: counted once
    assert stream.skipped["undecodable_image"] == 1
    loaded = read_lmdb([first, second])
    assert loaded.labels == batch_labels and torch.equal(loaded.images, batch)
    assert loaded.skipped == stream.skipped and loaded.bad_images == stream.bad_images
    assert "x" * 25 in read_lmdb(first, max_label=None).labels                       # evaluation keeps every label
    with pytest.raises(ValueError, match="no image of a batch could be decoded"):
        stream.batch(torch.tensor([4]))


def read_bytes_of_record(root, i):
    import lmdb

    env = lmdb.open(str(root), readonly=True, lock=False)
    with env.begin() as txn:
        data = txn.get(b"image-%09d" % i)
    env.close()
    return data


def test_fit_on_a_streamed_lmdb_equals_fit_on_the_loaded_set(tmp_path):
    images, labels = _images(12)
    root = write_lmdb(tmp_path / "db", WordImages(images, labels))
    cfg = TrainConfig(steps=4, batch_size=5)
    streamed, loaded = (Recognizer.from_config(size="light", seed=0).fit(data, cfg).history["loss"]
                        for data in (LmdbWordImages(root), read_lmdb(root)))
    assert streamed == loaded


def test_save_and_load_keep_config_weights_and_readings(tmp_path):
    images, labels = _images(6)
    state = torch.random.get_rng_state()
    for model, options in (("safl", {"size": "light", "official_decoder_pe": True}), ("crnn", {})):
        recognizer = Recognizer.from_config(model, seed=1, **options).fit(WordImages(images, labels),
                                                                          TrainConfig(steps=2, batch_size=6))
        path = recognizer.save(tmp_path / f"{model}.pt")
        state = torch.random.get_rng_state()
        loaded = Recognizer.load(path)
        assert torch.equal(torch.random.get_rng_state(), state)                      # loading draws nothing
        assert getattr(loaded.model, "cfg", None) == getattr(recognizer.model, "cfg", None)
        for key, value in recognizer.model.state_dict().items():
            assert torch.equal(loaded.model.state_dict()[key], value), key
        assert loaded.recognize(images) == recognizer.recognize(images)


def test_load_names_the_file_of_another_version_or_a_damaged_one(tmp_path):
    path = Recognizer.from_config(size="light", seed=0).save(tmp_path / "model.pt")
    payload = torch.load(path, weights_only=True)
    for name, change, message in (("v2", {"version": 2}, "has format version 2; this reprolab reads version 1"),
                                  ("vocab", {"vocabulary": {"chars": "abc"}}, "was saved with another vocabulary"),
                                  ("other", {"format": "something else"}, "is not a SAFL recognizer file")):
        torch.save({**payload, **change}, tmp_path / f"{name}.pt")
        with pytest.raises(ValueError, match=f"{name}.pt {message}"):
            Recognizer.load(tmp_path / f"{name}.pt")
    data = path.read_bytes()
    weight = max(payload["weights"].values(), key=lambda t: t.numel())
    at = data.find(weight.reshape(-1)[:16].numpy().tobytes())                    # a byte of a weight's data
    assert at > 0
    flipped = bytearray(data)
    flipped[at] ^= 0xFF
    (tmp_path / "flipped.pt").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="flipped.pt is damaged: its weights do not match their SHA-256"):
        Recognizer.load(tmp_path / "flipped.pt")
    for name, content in (("truncated", data[:len(data) // 2]), ("empty", b""), ("text", b"hello" * 40)):
        (tmp_path / f"{name}.pt").write_bytes(content)
        with pytest.raises(ValueError, match=f"{name}.pt is damaged or not a recognizer file"):
            Recognizer.load(tmp_path / f"{name}.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        Recognizer.load(tmp_path / "missing.pt")


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


def test_the_loss_log_keeps_tensors_and_reads_them_every_read_every_steps():
    """The values are those of `item()`, read in one transfer every `read_every` steps (not at each step); a
    non-finite loss raises there, naming its step; a checkpoint holds every value."""
    log, steps = LossLog(read_every=4), torch.tensor([2.5, 1.25, 0.1, 3.0, 0.7], dtype=torch.float32)
    for loss in steps:
        log.add(loss.clone().requires_grad_())
    assert log.values() == [loss.item() for loss in steps]
    again = LossLog()
    again.load_state_dict(log.state_dict())
    assert again.values() == log.values()
    bad = LossLog(read_every=4)
    for value in (1.0, float("nan"), 2.0):
        bad.add(torch.tensor(value))                            # kept, not read: no error yet
    with pytest.raises(FloatingPointError, match="loss is nan at step 2"):
        bad.add(torch.tensor(3.0))
    with pytest.raises(FloatingPointError, match="loss is inf at step 6"):
        again.add(torch.tensor(float("inf")))
        again.state_dict()                                      # a checkpoint reads first


def test_fit_reads_no_step_loss_into_python(host_reads, monkeypatch):
    """A step keeps its loss as a tensor (on a GPU it does not wait for it); the history holds every step's. Progress
    is off: its line reads the loss it shows (tests/runtime/test_train.py)."""
    monkeypatch.setenv("REPROLAB_PROGRESS", "0")
    images, labels = _images(16)
    recognizer = Recognizer.from_config(size="light", seed=0).fit(WordImages(images, labels),
                                                                 TrainConfig(steps=6, batch_size=4))
    assert "item" not in host_reads and host_reads.count("__float__") == 1      # the rectifier's first gradient
    assert len(recognizer.history["loss"]) == 6 and all(v > 0 for v in recognizer.history["loss"])


def test_recognizer_input_checks_and_deterministic_losses():
    images, labels = _images(16)
    recognizer = Recognizer.from_config(size="light", seed=0)
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 100\)"):
        recognizer.recognize(torch.zeros(2, 3, 64, 256))                  # float32 is the model input itself
    assert len(recognizer.recognize(torch.zeros(2, 3, 64, 256, dtype=torch.uint8))) == 2      # uint8: resized
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
